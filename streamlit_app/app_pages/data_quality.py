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
failed = dq[~dq["success"]]
c1, c2, c3 = st.columns(3)
c1.metric("Checks", len(dq))
c2.metric("Failed critical", int((failed["severity"] == "critical").sum()))
c3.metric("Failed warnings", int((failed["severity"] == "warning").sum()))
source = st.radio("Source", ["all", "great_expectations", "dbt"], horizontal=True)
shown = dq if source == "all" else dq[dq["source"] == source]
display.show(shown)
st.subheader("Rejected lines from imports")
display.show(queries.rejected_rows())
