from __future__ import annotations

import streamlit as st

from frycast.settings import get_settings
from streamlit_app import display, queries

st.title("Runs")
s = get_settings()
runs = queries.runs()
if runs.empty:
    st.info("No runs yet.")
    st.stop()


def prefect_link(flow_run: str | None) -> str | None:
    return f"{s.prefect_ui_url}/runs/flow-run/{flow_run}" if flow_run else None


runs = runs.assign(
    prefect=runs["pipeline"].map(prefect_link),
    mlflow=runs["mlflow_run_id"].map(lambda r: f"{s.mlflow_ui_url}/#/runs/{r}" if r else None),
)
latest = runs[runs["prefect"].notna()].head(1)
if not latest.empty:
    r = latest.iloc[0]
    st.markdown(
        f"Latest pipeline run in the Prefect UI (its steps, logs and progress): "
        f"[run {r['run_id']}]({r['prefect']})"
    )
display.show(
    runs.drop(columns=["pipeline"]),
    column_config={
        "prefect": st.column_config.LinkColumn("Prefect UI", display_text="open"),
        "mlflow": st.column_config.LinkColumn("MLflow", display_text="open"),
    },
)
st.markdown(f"dbt docs: [{s.dbt_docs_url}]({s.dbt_docs_url})")
