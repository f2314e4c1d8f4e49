from __future__ import annotations

import streamlit as st

from streamlit_app import charts, queries
from streamlit_app.app_pages._common import published_or_stop

st.title("Overview")
run = published_or_stop()
st.caption(
    f"Published run {run['run_id']} · history to {run['history_end']} · "
    f"published {run['published_at']:%Y-%m-%d %H:%M} · reconciled with {run['reconciler']}"
)

head = queries.accuracy_headline(run["run_id"])
served = head[head["what"] == "frycast (served)"]
base = head[head["what"] == "seasonal naive"]
c1, c2, c3 = st.columns(3)
if not served.empty:
    m = served.iloc[0]
    delta = None if base.empty else f"{m['mase'] - base.iloc[0]['mase']:+.3f} vs seasonal naive"
    c1.metric("Backtest MASE (restaurant × SKU)", f"{m['mase']:.3f}", delta, delta_color="inverse")
    c2.metric("wQL", f"{m['wql']:.3f}")
    c3.metric("80% interval coverage", f"{m['coverage_80']:.0%}")

st.subheader("Gate verdicts")
rev = queries.reviews(run["run_id"])
if rev.empty:
    st.write("No reviews stored for this run.")
for _, r in rev.iterrows():
    color = "green" if r["verdict"] in ("proceed", "publish", "keep", "no_change") else "orange"
    mode = "offline rules" if r["offline"] else r["model"]
    st.markdown(f"**{r['agent']}**: :{color}[**{r['verdict']}**] ({mode}) — {r['summary']}")

for level, label in (("region", "Region"), ("product_group", "Product group")):
    st.subheader(f"Next 12 months by {label.lower()}")
    df = queries.totals_by(level)
    left, right = st.columns([3, 2])
    left.altair_chart(charts.bars(df, "node_key", "next_12_months"), width="stretch")
    right.dataframe(
        df.rename(
            columns={
                "node_key": label,
                "next_12_months": "next 12 months",
                "last_12_months": "last 12 months",
                "yoy_pct": "YoY %",
            }
        ),
        hide_index=True,
    )
