from __future__ import annotations

import streamlit as st

from ml.models import served_model
from streamlit_app import charts, display, queries
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
display.show(board[board["level"] == level].drop(columns="level"))

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
    display.show(by_level)
    by_week = queries.hindsight("horizon")
    st.altair_chart(charts.lines(by_week, "horizon_week", "mae", "days"), width="stretch")

st.subheader("Planners' adjustments: forecast value added")
fva = queries.value_added()
if fva.empty:
    st.info(
        "No day an override held has an actual yet: once sales arrive, each override's error "
        "is set against the statistical forecast's here."
    )
else:
    stat, adj = fva["abs_error_statistical"].sum(), fva["abs_error_adjusted"].sum()
    gain = 100 * (1 - adj / stat) if stat > 0 else 0.0
    st.markdown(
        f"**Your adjustments {'improved' if gain >= 0 else 'worsened'} the forecast by "
        f"{abs(gain):.1f} %** over {len(fva)} override(s) and {int(fva['days_scored'].sum()):,} "
        f"days with actuals: mean absolute error {adj / fva['days_scored'].sum():,.1f} units a "
        f"day adjusted against {stat / fva['days_scored'].sum():,.1f} statistically."
    )
    pct = ["value_added", "bias_statistical", "bias_adjusted"]
    shown = fva.drop(columns=["abs_error_statistical", "abs_error_adjusted"])
    shown[pct] = 100 * shown[pct]
    display.show(
        shown,
        column_config={
            c: st.column_config.NumberColumn(c.replace("_", " ") + " (%)", format="%+.1f")
            for c in pct
        },
    )
    st.caption(
        "Value added = 1 - the adjusted error / the statistical error on the override's own "
        "node-days (each day scored with the freshest published run that held it); negative "
        "means the override made the forecast worse. MASE divides by the node's in-sample "
        "seasonal-naive error."
    )
