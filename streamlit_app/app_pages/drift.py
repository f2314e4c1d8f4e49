from __future__ import annotations

import streamlit as st

from streamlit_app import charts, display, queries

st.title("Drift")
run = queries.published_run()
checks = queries.drift_checks()
measured = run is not None and not checks[checks["run_id"] == run["run_id"]].empty
if run is not None and not measured:
    # no check has measured the served run: say so, never "keep — 0 nodes drifted"
    st.info(
        f"No new actuals yet for the published run {run['run_id']}: its data ends "
        f"{run['history_end']:%d %b %Y}, and no sales after that day have arrived. Nothing to "
        "measure, so no drift verdict. `frycast drift` (nightly under `frycast serve`) measures "
        "once they do."
    )
if checks.empty:
    st.caption("No drift check has found new actuals yet (`frycast drift`).")
    st.stop()
latest = int(checks["check_id"].max())
summary = checks[checks["check_id"] == latest]
checked_run = int(summary["run_id"].iloc[0])
st.subheader(
    f"Check {latest}, {summary['checked_at'].iloc[0]:%d %b %Y %H:%M}, of run {checked_run}"
    + ("" if measured else " (an earlier published run)")
)
display.show(summary[["level", "nodes", "drifted", "error_ratio", "bias"]])
rev = queries.reviews(checked_run)
triage = rev[rev["agent"] == "drift"]
if not triage.empty:
    st.write(f"Triage: **{triage.iloc[0]['verdict']}** — {triage.iloc[0]['summary']}")
st.subheader("Drifted nodes")
display.show(queries.drifted_nodes(latest))
st.subheader("Over time")
st.altair_chart(charts.lines(checks, "check_id", "error_ratio", "level"), width="stretch")
