"""Planners' overrides applied to a forecast run: inside every pipeline run (so the run it
publishes serves them), and on the published run whenever they change (`frycast override
apply`, or the `apply_overrides` deployment `frycast serve` runs every few minutes, which does
nothing when no override is newer than the last application)."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from frycast.stages import stage
from warehouse.db import pipeline_url
from warehouse.forecast_store import published_run
from warehouse.overrides_io import Application, apply_to_run, changed_since_applied


@task
def apply_overrides(url: str, run_id: int) -> dict:
    """Apply the overrides in force to run ``run_id``; what each did is recorded with it."""
    with stage("overrides"):
        app = apply_to_run(url, run_id)
    return _report(app)


def _report(app: Application) -> dict:
    held = app.outcomes[app.outcomes["applied"]] if len(app.outcomes) else app.outcomes
    refused = app.outcomes[~app.outcomes["applied"]] if len(app.outcomes) else app.outcomes
    for row in refused.itertuples():
        get_run_logger().warning("override %s: %s", row.override_id, row.message)
    return {
        "run_id": app.run_id,
        "application_id": app.application_id,
        "overrides": len(app.outcomes),
        "applied": len(held),
        "not_applied": len(refused),
        "node_days": app.node_days,
        "seconds": round(app.seconds, 2),
    }


@flow(name="apply_overrides", log_prints=True)
def apply_published_overrides(force: bool = False) -> dict:
    """Apply the overrides in force to the published run, when they changed since (or the day
    did: an override may have expired). The flow logs in itself: no URL as a parameter."""
    url = pipeline_url()
    run_id = published_run(url)
    if run_id is None:
        return {"run_id": None, "skipped": "no published run yet"}
    if not force and not changed_since_applied(url, run_id):
        return {"run_id": run_id, "skipped": "no override changed since the last application"}
    return apply_overrides(url, run_id)
