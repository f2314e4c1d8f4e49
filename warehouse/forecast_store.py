"""Write forecasting results to forecast.* (COPY) and keep the run bookkeeping."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from frycast.stages import stage
from ml.error_patterns import PATTERN_COLUMNS as ERROR_PATTERN_COLUMNS
from ml.intervals import check_quantiles
from warehouse.copy import copy_frames

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
    "p_open",
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
DRIVER_COLUMNS = ["run_id", "level", "node_key", "month", "model", "driver", "units"]
PATTERN_COLUMNS = ["run_id", *ERROR_PATTERN_COLUMNS]
WEIGHT_COLUMNS = ["run_id", "level", "node_key", "variance", "factor", "mae_scale"]


def open_run(
    url: str,
    horizon: int,
    config: dict,
    *,
    backend_pid: int | None = None,
    pipeline: str | None = None,
) -> int:
    """A new run. ``backend_pid``: the session holding the pipeline lock for it (its liveness);
    ``pipeline``: the Prefect flow run it belongs to."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "insert into forecast.forecast_runs (horizon_days, config, backend_pid, pipeline)"
            " values (%s, %s, %s, %s) returning run_id",
            (horizon, json.dumps(config, default=str), backend_pid, pipeline),
        ).fetchone()[0]


def set_run_config(url: str, run_id: int, horizon: int, config: dict) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "update forecast.forecast_runs set horizon_days = %s, config = config || %s"
            " where run_id = %s",
            (horizon, json.dumps(config, default=str), run_id),
        )


class RunStateError(RuntimeError):
    """The run is not in the state this step needs (say, a sweep found it dead and failed it)."""


# the states a run may finish from: a run succeeds only while running; a published run stays
FINISH_FROM = {
    "succeeded": ("running",),
    "failed": ("running", "succeeded", "publishing", "failed"),
}


def finish_run(
    url: str,
    run_id: int,
    *,
    status: str,
    history_end=None,
    mlflow_run_id=None,
    model_version: str | None = None,
    message: str | None = None,
) -> bool:
    """Record how the run ended; False when it could not fail (it is published). A run that
    is no longer running cannot succeed: :class:`RunStateError`."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """update forecast.forecast_runs
                  set status = %s, finished_at = now(), history_end = coalesce(%s, history_end),
                      mlflow_run_id = coalesce(%s, mlflow_run_id),
                      model_version = coalesce(%s::text, model_version), message = %s
                where run_id = %s and status = any(%s) and not published
            returning run_id""",
            (
                status,
                history_end,
                mlflow_run_id,
                model_version,
                message,
                run_id,
                list(FINISH_FROM[status]),
            ),
        ).fetchone()
        if row is None and status == "succeeded":
            now = conn.execute(
                "select status from forecast.forecast_runs where run_id = %s", (run_id,)
            ).fetchone()
            raise RunStateError(f"run {run_id} cannot succeed: status {now and now[0]}")
    return row is not None


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
    drivers = getattr(result, "drivers", None)
    if drivers is None:
        drivers = pd.DataFrame(columns=DRIVER_COLUMNS)
    drivers = drivers.assign(run_id=run_id)
    patterns = getattr(result, "patterns", None)
    if patterns is None:
        patterns = pd.DataFrame(columns=ERROR_PATTERN_COLUMNS)
    patterns = patterns.assign(run_id=run_id)
    weights = getattr(result, "weights", None)
    if weights is None:
        weights = pd.DataFrame(columns=WEIGHT_COLUMNS[1:])
    # bytea in COPY's text form: \x and hex
    weights = weights.assign(
        run_id=run_id,
        factor=[None if b is None else "\\x" + b.hex() for b in weights["factor"]],
    )
    check_quantiles(result.forecasts, f"run {run_id}")
    values = result.forecasts.assign(run_id=run_id)
    if "p_open" not in values:  # a result without open/closed days: unknown, not a number
        values["p_open"] = None
    with stage("write forecast_values"):
        counts = {"forecast.forecast_values": write_values(url, run_id, values)}
    frames = {
        "forecast.feature_importances": (IMPORTANCE_COLUMNS, importances),
        "forecast.backtest_metrics": (METRIC_COLUMNS, result.metrics.assign(run_id=run_id)),
        "forecast.model_selection": (SELECTION_COLUMNS, sel),
        "forecast.interval_calibration": (CALIBRATION_COLUMNS, cal),
        "forecast.forecast_drivers": (DRIVER_COLUMNS, drivers),
        "forecast.backtest_error_patterns": (PATTERN_COLUMNS, patterns),
        "forecast.adjustment_weights": (WEIGHT_COLUMNS, weights),
    }
    with psycopg.connect(url) as conn:
        for table, (cols, frame) in frames.items():
            with stage(f"write {table.split('.')[1]}"):
                counts[table] = copy_frames(conn, table, cols, chunks(frame[cols]))
    # fresh statistics before the gates read these rows: autovacuum may not get to them first,
    # and a planner that thinks backtest_metrics holds 7 rows nested-loops the metric gate's
    # self-join over 187 k rows (4 minutes on the chain tier instead of 0.2 s)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in frames:
            conn.execute(sql.SQL("analyze {}").format(sql.Identifier(*table.split("."))))
    return counts


# COPY sessions filling a run's partition at once: on 2 cores one session's CSV encoding (the
# client) and another's parsing and writing (the server) overlap
COPY_STREAMS = 2
VALUE_KEY = "run_id, level, node_key, reconciled, forecast_date"  # forecast_values' primary key


def values_partition(run_id: int) -> sql.Identifier:
    return sql.Identifier("forecast", f"forecast_values_r{int(run_id)}")


def write_values(url: str, run_id: int, values: pd.DataFrame, streams: int = COPY_STREAMS) -> int:
    """A run's forecast rows as its own partition of ``forecast.forecast_values``: a bare table
    (no index, no key) filled by ``streams`` COPY sessions at once, then, in one transaction, its
    primary key (one sorted index build instead of an index insert per row), a check that it
    holds this run only (so attaching it reads nothing to prove it) and the attach. Readers
    never see a run half written; a failed write leaves no table behind."""
    part = values_partition(run_id)
    name = f"forecast.forecast_values_r{int(run_id)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop table if exists {}").format(part))
        conn.execute(
            sql.SQL("create table {} (like forecast.forecast_values including defaults)").format(
                part
            )
        )
    try:
        parts = [values.iloc[rows] for rows in np.array_split(np.arange(len(values)), streams)]
        with ThreadPoolExecutor(streams) as pool:
            rows = sum(pool.map(lambda frame: _copy_into(url, name, frame), parts))
        with psycopg.connect(url) as conn:
            conn.execute(
                sql.SQL(
                    "alter table {part} add primary key ({key}),"
                    " add constraint {check} check (run_id = {run})"
                ).format(
                    part=part,
                    key=sql.SQL(VALUE_KEY),
                    check=sql.Identifier(f"forecast_values_r{int(run_id)}_run"),
                    run=sql.Literal(int(run_id)),
                )
            )
            conn.execute(
                sql.SQL(
                    "alter table forecast.forecast_values attach partition {} for values in ({})"
                ).format(part, sql.Literal(int(run_id)))
            )
            conn.execute(sql.SQL("analyze {}").format(part))  # the marts' plans need its stats
    except BaseException:
        drop_values(url, run_id)
        raise
    return rows


def _copy_into(url: str, table: str, frame: pd.DataFrame) -> int:
    with psycopg.connect(url) as conn:
        return copy_frames(conn, table, VALUE_COLUMNS, chunks(frame[VALUE_COLUMNS]))


def drop_values(url: str, run_id: int) -> None:
    """A run's forecast rows go with their partition (rows written by hand into the default
    partition, or kept from before the partitions, are deleted)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop table if exists {}").format(values_partition(run_id)))
        conn.execute("delete from forecast.forecast_values where run_id = %s", (run_id,))


def chunks(frame: pd.DataFrame, size: int = 500_000):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


PIPELINE_LOCK = 727_001  # pg advisory lock key: one forecasting pipeline at a time
RUN_LEASE = 727_002  # with the run id: a `frycast forecast` run's own lock (its liveness)
# the server notices a vanished client host within about a minute, not after the OS's 2 hours
KEEPALIVE = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"


class LockLost(RuntimeError):
    """The session holding the pipeline lock is gone: another run may now be writing."""


class HeldLock:
    """The pipeline lock's session; ``check()`` before a step that must not run unlocked.
    ``pid`` is its backend: runs record it, and are alive while it holds the lock."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pid = conn.info.backend_pid

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


def _lock_session(url: str) -> psycopg.Connection:
    options = conninfo_to_dict(url).get("options")  # keep the URL's own options
    return psycopg.connect(url, autocommit=True, options=f"{options or ''} {KEEPALIVE}".strip())


@contextmanager
def pipeline_lock(url: str, wait: bool = True):
    """Hold the pipeline's advisory lock for the duration: a second run waits (serialises)
    instead of interleaving its writes and publish with the first one's. Yields a
    :class:`HeldLock` whose ``check()`` says whether the lock is still held."""
    with _lock_session(url) as conn:
        if wait:
            conn.execute("select pg_advisory_lock(%s)", (PIPELINE_LOCK,))
        elif not conn.execute("select pg_try_advisory_lock(%s)", (PIPELINE_LOCK,)).fetchone()[0]:
            raise RuntimeError("another forecasting pipeline is running")
        try:
            yield HeldLock(conn)
        finally:
            with suppress(psycopg.Error):  # a lost session released the lock already
                conn.execute("select pg_advisory_unlock(%s)", (PIPELINE_LOCK,))


@contextmanager
def run_lease(url: str, horizon: int, config: dict):
    """Open a run outside the pipeline and hold its own lock while the block runs: the run is
    alive exactly as long as this session (it dies with the process). Yields the run id."""
    with _lock_session(url) as conn:
        with conn.transaction():  # readers never see the run without its lock
            run_id = conn.execute(
                "insert into forecast.forecast_runs (horizon_days, config, backend_pid)"
                " values (%s, %s, pg_backend_pid()) returning run_id",
                (horizon, json.dumps(config, default=str)),
            ).fetchone()[0]
            # a session lock taken in a transaction outlives its commit
            conn.execute("select pg_advisory_lock(%s, %s::int)", (RUN_LEASE, run_id))
        try:
            yield run_id
        finally:
            with suppress(psycopg.Error):
                conn.execute("select pg_advisory_unlock(%s, %s::int)", (RUN_LEASE, run_id))


def check_alive(url: str, run_id: int) -> None:
    """:class:`LockLost` when the session the run recorded no longer holds its lock: checked
    before a step that writes, so a run another process may think dead writes nothing."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select forecast.run_alive(run_id, backend_pid) from forecast.forecast_runs"
            " where run_id = %s",
            (run_id,),
        ).fetchone()
    if row is not None and row[0] is False:
        raise LockLost(f"run {run_id}: the session holding its lock is gone")


def fail_abandoned_runs(url: str, holder_pid: int | None = None) -> list[int]:
    """Mark failed the runs whose process is gone before they completed (forecast.run_states).

    ``holder_pid``: the caller holds the pipeline lock in that session, so no earlier run can
    still be alive under it (a reused pid), nor one that recorded no session (older code)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """update forecast.forecast_runs r
                  set status = 'failed', finished_at = now(),
                      message = coalesce(r.message || '; ', '') || 'abandoned'
                                || case r.status when 'publishing' then ' while publishing'
                                                 when 'succeeded' then ' before publishing'
                                                 else '' end
                                || ': the process running it stopped'
                 from forecast.run_states s
                where s.run_id = r.run_id and s.incomplete
                  and (s.alive is false
                       or (%(holder)s::int is not null
                           and (r.backend_pid is null or r.backend_pid = %(holder)s::int)))
            returning r.run_id""",
            {"holder": holder_pid},
        ).fetchall()
    return sorted(r[0] for r in rows)


def publish_run(url: str, run_id: int) -> None:
    """Serve ``run_id``: succeeded → publishing → succeeded and published, for a run with rows
    whose session still holds its lock. A published run is left as it is (a retried step)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select status, published, forecast.run_alive(run_id, backend_pid)"
            " from forecast.forecast_runs where run_id = %s for update",
            (run_id,),
        ).fetchone()
        if row is not None and row[1]:
            return
        if row is None or row[0] not in ("succeeded", "publishing"):
            raise RuntimeError(f"run {run_id} cannot be published: status {row and row[0]}")
        if row[2] is False:
            raise LockLost(f"run {run_id} cannot be published: its session is gone")
        has_rows = conn.execute(
            "select exists (select 1 from forecast.forecast_values where run_id = %s)", (run_id,)
        ).fetchone()[0]
        if not has_rows:
            raise RuntimeError(f"run {run_id} has no forecast rows")
        conn.execute(
            "update forecast.forecast_runs set status = 'publishing' where run_id = %s",
            (run_id,),
        )
    complete_publish(url, run_id)


def complete_publish(url: str, run_id: int) -> None:
    """publishing → published, in one transaction, only while the run's session is alive and no
    sweep failed it in between."""
    with psycopg.connect(url) as conn:
        done = conn.execute(
            """update forecast.forecast_runs
                  set status = 'succeeded', published = true, published_at = now()
                where run_id = %s and status = 'publishing'
                  and forecast.run_alive(run_id, backend_pid) is not false
            returning run_id""",
            (run_id,),
        ).fetchone()
    if done is None:
        raise LockLost(f"run {run_id} was not published: its session is gone or it was failed")


def champion_version(url: str) -> str | None:
    """The model version MLflow's champion alias should name: the latest published run's."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select model_version from forecast.forecast_runs"
            " where published and model_version is not null order by run_id desc limit 1"
        ).fetchone()
    return row and row[0]


def published_run(url: str) -> int | None:
    """The run readers are served: the latest published one."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select max(run_id) from forecast.forecast_runs where published"
        ).fetchone()
    return row[0]


def delete_run_rows(url: str, run_id: int) -> None:
    """Forget what a run wrote (to redo a step idempotently); the run row stays."""
    drop_values(url, run_id)
    with psycopg.connect(url) as conn:
        for table in (
            "backtest_metrics",
            "model_selection",
            "interval_calibration",
            "feature_importances",
            "forecast_drivers",
            "backtest_error_patterns",
            "adjustment_weights",
            "adjusted_values",
            "override_applications",
        ):
            conn.execute(f"delete from forecast.{table} where run_id = %s", (run_id,))
