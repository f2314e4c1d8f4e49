from __future__ import annotations

import streamlit as st

from streamlit_app import charts, display, queries
from streamlit_app.app_pages._common import note_if_in_the_past, published_or_stop

st.title("Overview")
run = published_or_stop()
st.caption(
    f"Published run {run['run_id']} · data to {run['history_end']:%d %b %Y} · "
    f"published {run['published_at']:%d %b %Y %H:%M} · reconciled with {run['reconciler']}"
)
note_if_in_the_past(run["history_end"], run["run_id"])

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
    with right:
        display.show(df, column_config={"node_key": st.column_config.TextColumn(label)})
