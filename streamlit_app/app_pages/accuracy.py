from __future__ import annotations

import streamlit as st

from ml.models import served_model
from streamlit_app import charts, queries
from streamlit_app.app_pages._common import published_or_stop

st.title("Accuracy")
run = published_or_stop()
board = queries.leaderboard(run["run_id"])
served = served_model(run["reconciler"])

if not run.get("out_of_sample"):
    st.warning(
        "These backtest figures are NOT out of sample: "
        + (run.get("evaluation_note") or "the run does not say how they were scored")
    )
else:
    st.caption(
        "Out of sample: each scored fold's model choice and bands were learned from earlier "
        "folds only (the oldest fold only calibrates)."
        + (f" {run['evaluation_note']}" if run.get("evaluation_note") else "")
    )
st.subheader("Backtest leaderboard")
level = st.selectbox("Level", queries.LEVELS, index=len(queries.LEVELS) - 1)
st.dataframe(board[board["level"] == level].drop(columns="level"), hide_index=True)

st.subheader("Gain from reconciliation (backtest MASE, base vs reconciled)")
gain = board[board["model"].isin(["selected", served])]
st.altair_chart(charts.bars(gain, "level", "mase", "model"), width="stretch")

st.subheader("Calibration: 80% interval coverage by level")
st.altair_chart(
    charts.bars(board[board["model"] == served], "level", "coverage_80"), width="stretch"
)

st.subheader("Hindsight: published forecasts against the actuals that arrived")
by_level = queries.hindsight("level")
if by_level.empty:
    st.info("No actuals after a published forecast's origin yet.")
else:
    st.dataframe(by_level, hide_index=True)
    by_week = queries.hindsight("horizon")
    st.altair_chart(charts.lines(by_week, "horizon_week", "mae", "days"), width="stretch")
