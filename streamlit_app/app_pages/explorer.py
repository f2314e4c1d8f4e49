from __future__ import annotations

import pandas as pd
import streamlit as st

from streamlit_app import charts, queries
from streamlit_app.app_pages._common import published_or_stop

st.title("Forecast explorer")
run = published_or_stop()

c1, c2, c3 = st.columns([1, 1, 2])
level = c1.selectbox("Level", queries.LEVELS, index=0)
search = c2.text_input("Search", "")
options = queries.nodes(level, search)
if not options:
    st.warning("No node matches.")
    st.stop()
node = c3.selectbox("Node", options)
history_days = st.slider("History shown (days)", 28, 730, 180, step=7)

runs = queries.runs()
others = runs[(runs["status"] == "succeeded") & (runs["run_id"] != run["run_id"])]["run_id"]
compare_run = st.selectbox("Compare with run", [None, *others.tolist()])

hist = queries.node_history(level, node, history_days)
fc = queries.node_forecast(level, node)
cmp = queries.node_forecast(level, node, int(compare_run)) if compare_run else None
region = node if level == "region" else None
hol = queries.holidays(region, fc["date"].min(), fc["date"].max()) if not fc.empty else None
promo = (
    queries.promotions(level, node, fc["date"].min(), fc["date"].max()) if not fc.empty else None
)

st.altair_chart(charts.history_and_forecast(hist, fc, hol, cmp, promo), width="stretch")
st.caption("Orange dashed lines: public holidays; green ticks: planned promotions.")
if not fc.empty:
    model = fc["model"].iloc[0]
    base_model = fc["base_model"].iloc[0]
    st.caption(
        f"Model: {model}"
        + (f" (base forecast: {base_model})" if pd.notna(base_model) else "")
        + f" · next 12 months: {fc['yhat'].sum():,.0f} units"
    )
st.download_button(
    "Download this forecast (CSV)",
    fc.to_csv(index=False).encode(),
    file_name=f"forecast_{level}_{node.replace('/', '_')}.csv",
    mime="text/csv",
)
st.dataframe(fc.head(56), hide_index=True)
