from __future__ import annotations

import streamlit as st

from streamlit_app import display, queries

st.title("Data quality")
runs = queries.runs()
if runs.empty:
    st.info("No runs yet.")
    st.stop()
run_id = st.selectbox("Run", runs["run_id"].tolist())
dq = queries.dq_results(int(run_id))
if dq.empty:
    # a run of `frycast forecast` (e.g. one restaurant alone) is not validated: only the pipeline is
    st.info(
        f"Run {run_id} has no data-quality checks: only pipeline runs (`frycast run`, the "
        "schedules) validate the data before forecasting; `frycast forecast` runs do not. "
        "Pick a pipeline run above."
    )
else:
    failed = dq[~dq["success"].astype(bool)]
    c1, c2, c3 = st.columns(3)
    c1.metric("Checks", len(dq))
    c2.metric("Failed critical", int((failed["severity"] == "critical").sum()))
    c3.metric("Failed warnings", int((failed["severity"] == "warning").sum()))
    source = st.radio("Source", ["all", "great_expectations", "dbt"], horizontal=True)
    display.show(dq if source == "all" else dq[dq["source"] == source])
st.subheader("Rejected lines from imports")
display.show(queries.rejected_rows())
