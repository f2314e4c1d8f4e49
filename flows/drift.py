"""The `drift_check` flow: are the published forecasts still right, now that actuals arrive?

Every node of the published run with actuals after its forecast origin is measured by
``ml.drift`` (error against its backtest, bias, coverage, PSI / KS on its units); the rows go to
``forecast.drift_metrics``, the triage agent reads the summary, and the flow can trigger a new
`forecast_pipeline` run.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, task

from ml.drift import drift_table, summarise
from ml.metrics import seasonal_naive_scale
from ml.reconcile.hierarchy import Hierarchy
from warehouse.db import pipeline_url
from warehouse.dbt import run_dbt
from warehouse.drift_io import promised_mase, served_vs_actual, store_drift
from warehouse.forecast_store import published_run
from warehouse.panel_io import load_panel


@task
def forecast_marts(url: str) -> None:
    """The forecast marts the check reads, (re)created first: a warehouse build that left them
    out (a sales-mart rebuild drops the views on it) would otherwise leave nothing to read."""
    from flows.pipeline import FORECAST_VIEWS

    result = run_dbt(FORECAST_VIEWS, url)
    if not result.success:
        raise RuntimeError("the forecast marts could not be built:\n" + "\n".join(result.failures))


@task
def measure_drift(url: str) -> dict:
    """The published run's forecast beside the actuals since its origin (the mart), each node's
    last training year (the panel, summed up the hierarchy), the statistics (``ml.drift``)."""
    run_id = published_run(url)
    if run_id is None:
        return {"summary": "no published forecast yet: nothing to check", "drifted": 0}
    history_end, served = served_vs_actual(url, run_id)
    if served.empty:
        return {
            "run_id": run_id,
            "summary": f"no new actuals yet: none after {history_end} (run {run_id})",
            "no_actuals": True,
            "drifted": 0,
            "bottom_share": 0.0,
        }
    panel = load_panel(url, horizon=1, stale_after_days=None)
    h = Hierarchy.from_bottom(panel.series)
    y = h.aggregate_observed(panel.y)
    end = pd.Timestamp(history_end)
    before = panel.dates <= end
    last_year = before & (panel.dates > end - pd.Timedelta(days=365))
    scale = seasonal_naive_scale(y[:, before])
    keys = list(zip(h.nodes["level"], h.nodes["node_key"], strict=True))
    frame = drift_table(
        served,
        {k: y[i, last_year] for i, k in enumerate(keys)},
        {k: float(scale[i]) for i, k in enumerate(keys)},
        promised_mase(url, run_id),
    )
    return summarise(frame, store_drift(url, run_id, frame), run_id)


@flow(name="drift_check", log_prints=True)
def drift_check(url: str | None = None, trigger: bool = False) -> dict:
    """Measure drift of the published forecast; optionally re-run the pipeline when it drifted."""
    given, url = url, url or pipeline_url()
    forecast_marts(url)
    result = measure_drift(url)
    print(result["summary"])
    # nothing published, or no actuals since its origin: nothing measured, so nothing to triage
    # (a "keep — 0 nodes drifted" would claim a check that did not happen)
    if result.get("run_id") is None or result.get("no_actuals"):
        return result
    verdict, requests = triage(url, result)
    result["triage"] = {"verdict": verdict.verdict, "summary": verdict.summary}
    print(f"drift triage: {verdict.verdict} — {verdict.summary}")
    wants = verdict.verdict == "retrain" or any(r["action"] == "retrain" for r in requests)
    if trigger and wants:
        from flows.pipeline import forecast_pipeline

        print("the triage asks for a retrain: running forecast_pipeline")
        result["triggered"] = forecast_pipeline(url=given)  # it logs in itself when not given
    return result


@task
def triage(url: str, result: dict):
    """The drift triage agent (rules offline): what drifted, and retrain or keep."""
    from agents.reviewers import review

    return review("drift", url, result["run_id"], extra=result)
