from __future__ import annotations

import streamlit as st

from frycast.settings import get_settings
from streamlit_app import queries

st.title("Runs")
s = get_settings()
runs = queries.runs()
if runs.empty:
    st.info("No runs yet.")
    st.stop()
runs = runs.assign(
    prefect=runs["pipeline"].map(lambda p: f"{s.prefect_ui_url}/runs/flow-run/{p}" if p else None),
    mlflow=runs["mlflow_run_id"].map(lambda r: f"{s.mlflow_ui_url}/#/runs/{r}" if r else None),
)
st.dataframe(
    runs,
    hide_index=True,
    column_config={
        "prefect": st.column_config.LinkColumn("Prefect UI"),
        "mlflow": st.column_config.LinkColumn("MLflow"),
    },
)
st.markdown(f"dbt docs: [{s.dbt_docs_url}]({s.dbt_docs_url})")
