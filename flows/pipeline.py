"""The `forecast_pipeline` Prefect flow: raw data to published, reconciled forecast marts.

dbt build (staging, features, marts) → data-quality checks (Great Expectations + dbt tests) →
data-quality gate → backtest, select, forecast 365 days, reconcile, write (one run_id) → planners'
overrides in force applied (held, the rest reconciled around them) → dbt build of the forecast
marts → metric gate → publish → snapshot (the published forecast as Parquet on
S3 / MinIO or locally; a failed snapshot is reported, the run stays published). Tasks are thin
wrappers over `frycast` / `ml` functions and pass run ids, never DataFrames. One pipeline at a
time (advisory lock); a run that fails or was killed is marked failed, and the previously
published run stays served. Run states: running → succeeded (written) → publishing → succeeded
and published; a run is alive while its lock's session holds the lock (forecast.run_states).
"""

from __future__ import annotations

import logging
from contextlib import suppress

import psycopg
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run as prefect_flow_run

from agents.reviewers import review
from agents.schema import Verdict
from flows.overrides import apply_overrides
from frycast import progress
from frycast.stages import stage
from quality import checks as quality
from warehouse.db import pipeline_url
from warehouse.dbt import DbtResult, run_dbt
from warehouse.forecast_store import (
    fail_abandoned_runs,
    finish_run,
    open_run,
    pipeline_lock,
    publish_run,
    published_run,
)

log = logging.getLogger(__name__)

WAREHOUSE_MODELS = ["build", "--exclude", "source:forecast+"]
FORECAST_MARTS = ["build", "--select", "source:forecast+"]
# Rebuilding a sales mart table drops the forecast-mart views that read it (dbt-postgres swaps the
# table and drops the old one with cascade): recreate them at once, so readers see the published
# run again seconds later, not only after the new forecast (their tests run with FORECAST_MARTS).
FORECAST_VIEWS = ["run", "--select", "source:forecast+"]


def _transient(task, task_run, state) -> bool:
    """Retry only what a retry can fix: a dropped or refused database connection."""
    try:
        state.result()
    except psycopg.OperationalError:
        return True
    except Exception:  # noqa: BLE001 - anything else fails at once
        return False
    return False


class GateHalted(RuntimeError):
    """A gate said no: the run stops here, recorded as failed, with the gate's reasons."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id

    def __reduce__(self):  # pickled by Prefect's result handling: keep both arguments
        return (GateHalted, (self.run_id, str(self)))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def start_run(url: str, horizon: int, holder_pid: int | None = None) -> int:
    """Fail the runs whose process died, then open this one, alive while ``holder_pid`` (the
    pipeline lock's session) holds the lock."""
    abandoned = fail_abandoned_runs(url, holder_pid=holder_pid)
    if abandoned:
        get_run_logger().warning("marked abandoned runs failed: %s", abandoned)
    # inside a task, get_run_context() is the task's context, which has no flow_run: read the
    # flow run's id from prefect.runtime (None outside a flow run, e.g. a test calling .fn)
    return open_run(
        url,
        horizon,
        {"pipeline": "forecast_pipeline"},
        backend_pid=holder_pid,
        pipeline=prefect_flow_run.id,
    )


@task
def dbt_build(url: str, args: list[str]) -> DbtResult:
    name = "warehouse" if args == WAREHOUSE_MODELS else "forecast marts"
    with stage(f"dbt build ({name})"):
        try:
            result = run_dbt(args, url)
        finally:  # even when the build failed or was interrupted, serve the forecast marts again
            if args == WAREHOUSE_MODELS:
                restored = run_dbt(FORECAST_VIEWS, url)
                if not restored.success:
                    get_run_logger().warning("forecast marts not restored: %s", restored.failures)
    get_run_logger().info(
        "dbt %s: %d passed, %d failed", " ".join(args), result.passed, result.failed
    )
    return result


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def validate_data(url: str, run_id: int, dbt_result: DbtResult, stale_after_days: int) -> int:
    with stage("data quality (GX)"):
        window = quality.validation_window(url, dbt_result.through_batch_id)
        checks = quality.run_expectations(url, window) + [
            quality.freshness(url),
            quality.rejections(url, window),
            quality.partial_days(url),
            quality.silent_restaurants(url, stale_after_days),
        ]
        quality.mark_validated(url, run_id, window)
    checks += quality.dbt_checks(dbt_result)
    if not dbt_result.success and not dbt_result.tests:
        checks.append(
            quality.Check(
                "dbt",
                "dbt_build",
                None,
                "critical",
                False,
                f"{dbt_result.failed} failures",
                {"failures": dbt_result.failures[:20]},
            )
        )
    return quality.store(url, run_id, checks)


@task
def data_quality_review(url: str, run_id: int) -> Verdict:
    """The data-quality reviewer (a Claude agent with a key, the same rules offline)."""
    with stage("agent reviews"):
        return review("data_quality", url, run_id)[0]


def _progress_to_prefect(run_id: int) -> progress.Listener:
    """Each stage's start and end and the fits done, to the flow run's log (the terminal and the
    Prefect UI) and to a progress artifact on the flow run: its bar is how far the current
    counted step is, its description the latest message."""
    logger = get_run_logger()
    try:
        artifact = create_progress_artifact(
            0.0, key="forecast-progress", description=f"run {run_id}: starting"
        )
    except Exception:  # noqa: BLE001 - no Prefect API (a plain call): the log still tells
        artifact = None
    bar = [0.0]

    def listen(message: str, fraction: float | None) -> None:
        logger.info(message)
        if artifact is None:
            return
        if fraction is not None:
            bar[0] = round(100 * fraction, 1)
        with suppress(Exception):  # a progress bar never fails a run
            update_progress_artifact(artifact, bar[0], description=f"run {run_id}: {message}")

    return listen


@task
def forecast(url: str, run_id: int, options: dict) -> dict:
    from flows.forecast import run_forecast

    with stage("forecast (total)"):
        report = run_forecast(url, run_id=run_id, **options)
    return {
        "run_id": report.run_id,
        "n_series": report.n_series,
        "rows": report.rows_written,
        "bottom": report.summary.get("per_model", {}),
        "levels": (report.reconciliation or {}).get("levels", {}),
        "mlflow_run_id": report.mlflow_run_id,
        "model_version": report.model_version,
        "skipped": {k: str(v) for k, v in report.skipped.items()},
        "seconds": round(report.seconds, 1),
    }


@task
def metric_review(url: str, run_id: int) -> Verdict:
    """The model-selection / metric reviewer: publish or hold."""
    with stage("agent reviews"):
        return review("metrics", url, run_id)[0]


@task
def feature_advice(url: str, run_id: int) -> Verdict:
    """The feature-engineering advisor: recommendations for the next run, stored, not applied."""
    with stage("agent reviews"):
        return review("features", url, run_id)[0]


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def publish(url: str, run_id: int) -> str | None:
    """Serve the run, then move MLflow's champion alias to its model (only here, so a run that
    never published never becomes champion). Returns the champion version."""
    publish_run(url, run_id)  # a retry after it succeeded is a no-op
    from flows.forecast import promote_champion

    try:
        return promote_champion(url)
    except Exception as exc:  # noqa: BLE001 - the run is served; the next publish moves it
        get_run_logger().error("run %s published; champion alias not moved: %s", run_id, exc)
        return None


@task(retries=2, retry_delay_seconds=10)
def snapshot(url: str, run_id: int) -> str | None:
    """The published forecast as Parquet on S3 / MinIO (or locally); its URI, None when off."""
    from warehouse.snapshots import write_snapshot

    with stage("snapshot"):
        snap = write_snapshot(url, run_id)
    return snap.uri if snap else None


def _snapshot(url: str, run_id: int) -> dict:
    """Run the snapshot task; a failure is reported, never raised: the run stays published."""
    state = snapshot(url, run_id, return_state=True)
    if state.is_completed():
        return {"uri": state.result(), "error": None}
    error = state.result(raise_on_failure=False)
    get_run_logger().error("snapshot of published run %s failed: %s", run_id, error)
    return {"uri": None, "error": f"{type(error).__name__}: {error}"}


@flow(name="forecast_pipeline", log_prints=True)
def forecast_pipeline(
    horizon: int | None = None,
    folds: int | None = None,
    fold_horizon: int | None = None,
    models: list[str] | None = None,
    reconciler: str | None = None,
    url: str | None = None,
) -> dict:
    """Raw data to a published, reconciled forecast. Returns the run id and the gate verdicts."""
    from frycast.settings import get_settings

    url = url or pipeline_url()
    s = get_settings()
    options = {
        "horizon": horizon,
        "folds": folds,
        "fold_horizon": fold_horizon,
        "models": tuple(models) if models else None,
        "reconciler": reconciler,
    }
    options = {k: v for k, v in options.items() if v is not None}
    with pipeline_lock(url) as lock:
        before = published_run(url)
        run_id = start_run(url, horizon or s.horizon_days, lock.pid)
        with progress.listening(_progress_to_prefect(run_id)):
            try:
                built = dbt_build(url, WAREHOUSE_MODELS)
                validate_data(url, run_id, built, s.stale_after_days)
                dq = data_quality_review(url, run_id)
                if not dq.go:
                    raise GateHalted(run_id, f"data-quality gate: {dq.summary}")
                lock.check()  # a run that lost its lock writes and publishes nothing
                report = forecast(url, run_id, options)
                # planners' overrides in force, held in this run's served forecast
                report["overrides"] = apply_overrides(url, run_id)
                feature_advice(url, run_id)
                marts = dbt_build(url, FORECAST_MARTS)
                if not marts.success:
                    raise RuntimeError("forecast marts failed: " + "; ".join(marts.failures[:5]))
                review = metric_review(url, run_id)
                if not review.go:
                    raise GateHalted(run_id, f"metric gate: {review.summary}")
                lock.check()
                champion = publish(url, run_id)
            except BaseException as exc:
                finish_run(
                    url, run_id, status="failed", message=f"{type(exc).__name__}: {exc}"[:2000]
                )
                _artifact(url, run_id, before, failed=str(exc))
                raise
        snap = _snapshot(url, run_id)
        report["champion_version"] = champion
        _artifact(url, run_id, before, report=report, dq=dq, review=review, snap=snap)
        return {
            "run_id": run_id,
            "published": True,
            "champion_version": champion,
            "data_quality": dq.verdict,
            "metrics": review.verdict,
            "snapshot": snap["uri"],
            "snapshot_error": snap["error"],
        }


def _artifact(
    url, run_id, before, report=None, dq=None, review=None, snap=None, failed=None
) -> None:
    """The run's summary in the Prefect UI: rows, accuracy by level, gate verdicts, links."""
    lines = [f"# Forecast run {run_id}"]
    if failed:
        lines += [
            f"**Failed** — {failed}",
            "",
            f"The previously published run ({before}) is still the one served.",
        ]
    else:
        lines += [
            f"Published; replaces run {before}." if before else "Published (the first run).",
            "",
            f"- series: {report['n_series']:,}; rows: "
            + ", ".join(f"{t} {n:,}" for t, n in report["rows"].items()),
            f"- data-quality gate: **{dq.verdict}** — {dq.summary}",
            f"- metric gate: **{review.verdict}** — {review.summary}",
            f"- MLflow run `{report['mlflow_run_id']}`, model version "
            f"{report['model_version']}; champion version {report['champion_version']}",
            _snapshot_line(run_id, snap),
            "",
            "| level | MASE base | MASE reconciled | coverage 80% |",
            "|---|---|---|---|",
        ]
        for level, v in report["levels"].items():
            lines.append(
                f"| {level} | {v['mase_base']:.3f} | {v['mase_reconciled']:.3f} "
                f"| {v['coverage_reconciled']:.3f} |"
            )
        lines += ["", "SQL: `select * from marts.fct_forecast where level = 'chain' limit 10`"]
    try:
        create_markdown_artifact(
            "\n".join(lines), key=f"forecast-run-{run_id}", description="frycast forecast run"
        )
    except Exception:  # noqa: BLE001 - no Prefect API (a plain function call): log it instead
        log.info("\n".join(lines))


def _snapshot_line(run_id: int, snap: dict | None) -> str:
    if snap and snap["uri"]:
        return f"- snapshot: `{snap['uri']}`"
    if snap and snap["error"]:
        return (
            f"- snapshot **failed** — {snap['error']}; the run stays published "
            f"(retry: `frycast snapshot --run-id {run_id}`)"
        )
    return "- snapshot: off (FRYCAST_SNAPSHOTS=off)"
