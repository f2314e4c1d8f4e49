"""Write forecasting results to forecast.* (COPY) and keep the run bookkeeping."""

from __future__ import annotations

import json
from contextlib import contextmanager, suppress

import pandas as pd
import psycopg

from frycast.stages import stage
from ingest.copy import copy_frames

VALUE_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "restaurant_id",
    "sku_id",
    "product_group",
    "region",
    "forecast_date",
    "yhat",
    "yhat_q50",
    "yhat_lo80",
    "yhat_hi80",
    "model",
    "reconciled",
]
METRIC_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "model",
    "fold",
    "origin",
    "horizon",
    "n_obs",
    "mase",
    "smape",
    "wql",
    "coverage_80",
]
SELECTION_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "restaurant_id",
    "sku_id",
    "model",
    "score",
    "runner_up",
    "runner_up_score",
    "segment",
    "reason",
    "scores",
]
CALIBRATION_COLUMNS = [
    "run_id",
    "level",
    "model",
    "horizon_bucket",
    "volume_class",
    "q10",
    "q50",
    "q90",
    "n_residuals",
]
IMPORTANCE_COLUMNS = ["run_id", "model", "feature", "importance"]


def open_run(url: str, horizon: int, config: dict) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "insert into forecast.forecast_runs (horizon_days, config) values (%s, %s)"
            " returning run_id",
            (horizon, json.dumps(config, default=str)),
        ).fetchone()[0]


def set_run_config(url: str, run_id: int, horizon: int, config: dict) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "update forecast.forecast_runs set horizon_days = %s, config = config || %s"
            " where run_id = %s",
            (horizon, json.dumps(config, default=str), run_id),
        )


def finish_run(
    url: str,
    run_id: int,
    *,
    status: str,
    history_end=None,
    mlflow_run_id=None,
    message: str | None = None,
) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """update forecast.forecast_runs
                  set status = %s, finished_at = now(), history_end = coalesce(%s, history_end),
                      mlflow_run_id = coalesce(%s, mlflow_run_id), message = %s
                where run_id = %s""",
            (status, history_end, mlflow_run_id, message, run_id),
        )


def write_results(url: str, run_id: int, result) -> dict[str, int]:
    """Forecast values, backtest metrics, model selection and calibration of one engine result."""
    sel = result.selection.assign(run_id=run_id)
    if "level" not in sel:
        sel["level"] = "restaurant_sku"
    cal = result.calibration.rename(columns={"n": "n_residuals"}).assign(run_id=run_id)
    if "level" not in cal:
        cal["level"] = "restaurant_sku"
    importances = pd.DataFrame(
        [
            (run_id, name, feature, float(value))
            # a reconciled result keeps its engine's fitted models on .bottom
            for name, model in (
                getattr(getattr(result, "bottom", result), "fitted", None) or {}
            ).items()
            if hasattr(model, "feature_importance")
            for feature, value in model.feature_importance().items()
        ],
        columns=IMPORTANCE_COLUMNS,
    )
    frames = {
        "forecast.forecast_values": (VALUE_COLUMNS, result.forecasts.assign(run_id=run_id)),
        "forecast.feature_importances": (IMPORTANCE_COLUMNS, importances),
        "forecast.backtest_metrics": (METRIC_COLUMNS, result.metrics.assign(run_id=run_id)),
        "forecast.model_selection": (SELECTION_COLUMNS, sel),
        "forecast.interval_calibration": (CALIBRATION_COLUMNS, cal),
    }
    counts = {}
    with psycopg.connect(url) as conn:
        for table, (cols, frame) in frames.items():
            with stage(f"write {table.split('.')[1]}"):
                counts[table] = copy_frames(conn, table, cols, _chunks(frame[cols]))
    return counts


def _chunks(frame: pd.DataFrame, size: int = 500_000):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


PIPELINE_LOCK = 727_001  # pg advisory lock key: one forecasting pipeline at a time


class LockLost(RuntimeError):
    """The session holding the pipeline lock is gone: another run may now be writing."""


class HeldLock:
    """The pipeline lock's session; ``check()`` before a step that must not run unlocked."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def check(self) -> None:
        try:
            held = self.conn.execute(
                """select exists (select 1 from pg_locks where locktype = 'advisory'
                                    and objid = %s and pid = pg_backend_pid() and granted
                                    and database = (select oid from pg_database
                                                     where datname = current_database()))""",
                (PIPELINE_LOCK,),
            ).fetchone()[0]
        except psycopg.Error as exc:
            raise LockLost(f"the pipeline lock's session is gone ({exc})") from exc
        if not held:
            raise LockLost("the pipeline lock is no longer held by this run")


@contextmanager
def pipeline_lock(url: str, wait: bool = True):
    """Hold the pipeline's advisory lock for the duration: a second run waits (serialises)
    instead of interleaving its writes and publish with the first one's. Yields a
    :class:`HeldLock` whose ``check()`` says whether the lock is still held."""
    with psycopg.connect(url, autocommit=True) as conn:
        if wait:
            conn.execute("select pg_advisory_lock(%s)", (PIPELINE_LOCK,))
        elif not conn.execute("select pg_try_advisory_lock(%s)", (PIPELINE_LOCK,)).fetchone()[0]:
            raise RuntimeError("another forecasting pipeline is running")
        try:
            yield HeldLock(conn)
        finally:
            with suppress(psycopg.Error):  # a lost session released the lock already
                conn.execute("select pg_advisory_unlock(%s)", (PIPELINE_LOCK,))


def fail_abandoned_runs(url: str) -> list[int]:
    """Runs still 'running' while we hold the pipeline lock were killed mid-way: mark them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """update forecast.forecast_runs
                  set status = 'failed', finished_at = now(),
                      message = coalesce(message || '; ', '')
                                || 'abandoned: the process running it stopped'
                where status = 'running'
            returning run_id"""
        ).fetchall()
    return [r[0] for r in rows]


def publish_run(url: str, run_id: int) -> None:
    """Serve ``run_id``: one transaction, only for a run that succeeded and has its rows."""
    with psycopg.connect(url) as conn:
        status = conn.execute(
            "select status from forecast.forecast_runs where run_id = %s for update", (run_id,)
        ).fetchone()
        if status is None or status[0] != "succeeded":
            raise RuntimeError(f"run {run_id} cannot be published: status {status and status[0]}")
        has_rows = conn.execute(
            "select exists (select 1 from forecast.forecast_values where run_id = %s)", (run_id,)
        ).fetchone()[0]
        if not has_rows:
            raise RuntimeError(f"run {run_id} has no forecast rows")
        conn.execute(
            "update forecast.forecast_runs set published = true, published_at = now()"
            " where run_id = %s",
            (run_id,),
        )


def published_run(url: str) -> int | None:
    """The run readers are served: the latest published one."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select max(run_id) from forecast.forecast_runs where published"
        ).fetchone()
    return row[0]


def delete_run_rows(url: str, run_id: int) -> None:
    """Forget what a run wrote (to redo a step idempotently); the run row stays."""
    with psycopg.connect(url) as conn:
        for table in (
            "forecast_values",
            "backtest_metrics",
            "model_selection",
            "interval_calibration",
            "feature_importances",
        ):
            conn.execute(f"delete from forecast.{table} where run_id = %s", (run_id,))
