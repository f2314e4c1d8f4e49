from __future__ import annotations

import streamlit as st

from streamlit_app import charts, queries

st.title("Drift")
checks = queries.drift_checks()
if checks.empty:
    st.info("No drift check has found new actuals yet (`frycast drift`).")
    st.stop()
latest = int(checks["check_id"].max())
summary = checks[checks["check_id"] == latest]
st.subheader(f"Check {latest}")
st.dataframe(summary[["level", "nodes", "drifted", "error_ratio", "bias"]], hide_index=True)
rev = queries.reviews(int(summary["run_id"].iloc[0]))
triage = rev[rev["agent"] == "drift"]
if not triage.empty:
    st.write(f"Triage: **{triage.iloc[0]['verdict']}** — {triage.iloc[0]['summary']}")
st.subheader("Drifted nodes")
st.dataframe(queries.drifted_nodes(latest), hide_index=True)
st.subheader("Over time")
st.altair_chart(charts.lines(checks, "check_id", "error_ratio", "level"), width="stretch")
