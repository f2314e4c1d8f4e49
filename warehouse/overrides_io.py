"""Planners' overrides in the warehouse: saved through the planner login (insert-only), read and
applied to a run's statistical forecast by the owner, the adjusted node-days and each
override's outcome written back (ml/overrides.py does the maths).

The overrides table is append-only (infra/sql/04_planning.sql): a change or a retirement is a
new row that supersedes the old one, and the database refuses an override that overlaps another
active one on the same node, naming both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from frycast.levels import FRYCAST_BOTTOM, HIERARCHY_LEVELS
from ml.overrides import OUTCOME_COLUMNS, OVERRIDE_COLUMNS, OverrideResult, apply_overrides
from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.solve import Covariance
from warehouse.copy import copy_frames, copy_query_frame

ADJUSTED_COLUMNS = [
    "run_id", "application_id", "level", "node_key", "forecast_date", "yhat", "yhat_q50",
    "yhat_lo80", "yhat_hi80", "is_pinned",
]  # fmt: skip
CHANGED = 1e-9  # relative: a node-day the adjustment moved less than this is not written


class OverrideRefused(ValueError):
    """The warehouse refused an override: its message says why (an overlap names both)."""


@dataclass
class Application:
    application_id: int | None
    run_id: int
    outcomes: pd.DataFrame
    node_days: int
    seconds: float


def add_override(
    planner_url: str,
    *,
    level: str,
    node_key: str,
    date_from: date,
    date_to: date,
    kind: str,
    value: float,
    reason: str,
    author: str,
    expires_on: date | None = None,
    supersedes: int | None = None,
    status: str = "active",
) -> None:
    """Insert one override as the planner login; the database checks it (the planner cannot
    read back, so nothing is returned: the reader's marts show it)."""
    try:
        with psycopg.connect(planner_url) as conn:
            conn.execute(
                """insert into planning.overrides (level, node_key, date_from, date_to, kind,
                       value, reason, author, expires_on, supersedes, status)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (level, node_key, date_from, date_to, kind, value, reason, author, expires_on,
                 supersedes, status),
            )  # fmt: skip
    except (psycopg.errors.RaiseException, psycopg.errors.IntegrityError) as exc:
        raise OverrideRefused(exc.diag.message_primary or str(exc)) from None
    except psycopg.OperationalError as exc:
        raise OverrideRefused(
            f"cannot connect as the planner login ({str(exc).strip()}); set FRYCAST_PLANNER_URL "
            "or create it with `frycast warehouse init`"
        ) from None


def current_overrides(url: str) -> pd.DataFrame:
    """The overrides in force (the newest row of each, not retired), as the owner reads them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"select {', '.join(OVERRIDE_COLUMNS)} from planning.current_overrides"
            " order by override_id"
        ).fetchall()
    return pd.DataFrame(rows, columns=OVERRIDE_COLUMNS)


def override_row(url: str, override_id: int) -> dict | None:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select * from planning.overrides where override_id = %s", (override_id,)
        )
        row = cur.fetchone()
        return (
            None if row is None else dict(zip([d.name for d in cur.description], row, strict=True))
        )


# where a run's state is read: the owner applies from the forecast tables; the dashboard's
# preview reads the served run from the marts, as the reader (statistical forecast only)
SOURCES = {
    "forecast": (
        "select level, node_key, variance, factor from forecast.adjustment_weights"
        " where run_id = {run}",
        "select level, node_key, restaurant_id, sku_id, product_group, region, forecast_date,"
        " yhat, yhat_q50, yhat_lo80, yhat_hi80 from forecast.forecast_values"
        " where run_id = {run} and reconciled and forecast_date = any({days})",
    ),
    "marts": (
        "select level, node_key, variance, factor from marts.fct_adjustment_weights"
        " where run_id = {run}",
        "select level, node_key, restaurant_id, sku_id, product_group, region, forecast_date,"
        " yhat_statistical as yhat, yhat_q50, yhat_lo80, yhat_hi80 from marts.fct_forecast"
        " where run_id = {run} and forecast_date = any({days})",
    ),
}


def _run_state(url: str, run_id: int, dates: list[date], source: str = "forecast"):
    """The run's hierarchy, MinT's weights and its reconciled forecast on ``dates``."""
    weights_sql, values_sql = SOURCES[source]
    days = "array[" + ",".join(f"'{d}'::date" for d in dates) + "]::date[]"
    with psycopg.connect(url) as conn:
        weights = conn.execute(weights_sql.format(run=int(run_id))).fetchall()
        if not weights:
            raise LookupError(
                f"run {run_id} has no adjustment weights (a run without reconciliation, or from "
                "before overrides): overrides apply to reconciled runs"
            )
        values = copy_query_frame(conn, values_sql.format(run=int(run_id), days=days))
    present = {lv for lv, *_ in weights}
    bottom = values[values.level == FRYCAST_BOTTOM[0]].drop_duplicates("node_key")
    levels = [(n, c) for n, c in HIERARCHY_LEVELS[:-1] if n in present]
    h = Hierarchy.from_bottom(bottom.sort_values("node_key").reset_index(drop=True), levels)
    order = h.node_index()
    d = np.zeros(h.n_nodes)
    factor = None
    for lv, key, var, f in weights:
        i = order.get((lv, key))
        if i is None:
            continue
        d[i] = var
        if f is not None:
            row = np.frombuffer(bytes(f), dtype="<f4")
            if factor is None:
                factor = np.zeros((h.n_nodes, len(row)))
            factor[i] = row
    days_index = pd.DatetimeIndex(sorted(pd.to_datetime(values.forecast_date).unique()))
    rows = np.array([order[(lv, k)] for lv, k in zip(values.level, values.node_key, strict=True)])
    cols = days_index.get_indexer(pd.to_datetime(values.forecast_date))
    grids = []
    for col in ("yhat", "yhat_q50", "yhat_lo80", "yhat_hi80"):
        grid = np.zeros((h.n_nodes, len(days_index)))
        grid[rows, cols] = values[col].to_numpy(dtype=float)
        grids.append(grid)
    return h, Covariance(d, factor), days_index, grids


def plan(
    url: str, run_id: int, overrides: pd.DataFrame, as_of: date, source: str = "forecast"
) -> tuple[tuple | None, pd.DataFrame]:
    """``overrides`` applied to run ``run_id``'s statistical forecast in memory: the state to
    record (hierarchy, dates, statistical forecast, result; None when nothing could be applied)
    and every override's outcome."""
    dates = sorted(
        {d for o in overrides.itertuples() for d in pd.date_range(o.date_from, o.date_to).date}
    )
    if len(overrides) and dates:
        try:
            h, W, days, (yhat, q50, lo, hi) = _run_state(url, run_id, dates, source)
        except LookupError as exc:
            return None, overrides[["override_id"]].assign(
                applied=False, days=0, message=f"not applied: {exc}"
            )
        if len(days):
            result = apply_overrides(h, W, days, yhat, (q50, lo, hi), overrides, as_of)
            return (h, days, yhat, result), result.outcomes
    return None, overrides[["override_id"]].assign(
        applied=False, days=0, message="not applied: its days are outside this run's forecast"
    )


def apply_to_run(url: str, run_id: int, as_of: date | None = None) -> Application:
    """Apply the overrides in force to run ``run_id``'s statistical forecast and replace its
    adjusted node-days (one transaction: readers see the old adjustment until it commits)."""
    started = time.perf_counter()
    as_of = as_of or date.today()
    state, outcomes = plan(url, run_id, current_overrides(url), as_of)
    return _record(url, run_id, as_of, outcomes, state, started)


def check_new_override(url: str, fields: dict, as_of: date | None = None) -> str | None:
    """Why a new override should not be saved, or None: its node is not in the served forecast,
    or with the overrides in force it cannot hold (a conflict, named)."""
    from warehouse.forecast_store import published_run

    run_id = published_run(url)
    if run_id is None:
        return None  # nothing to check against: the first run applies it
    with psycopg.connect(url) as conn:
        known = conn.execute(
            "select count(*), count(*) filter (where level = %s and node_key = %s)"
            " from forecast.adjustment_weights where run_id = %s",
            (fields["level"], fields["node_key"], run_id),
        ).fetchone()
    if known[0] and not known[1]:
        return (
            f"{fields['level']} {fields['node_key']!r} is not in the served forecast (run {run_id})"
        )
    new = pd.DataFrame([{**{c: fields.get(c) for c in OVERRIDE_COLUMNS}, "override_id": 0}])
    others = current_overrides(url)
    if fields.get("supersedes") is not None:
        others = others[others.override_id != fields["supersedes"]]
    # concat with an empty frame would change dtypes (pandas deprecation): only when needed
    both = pd.concat([others, new], ignore_index=True) if len(others) else new
    _, outcomes = plan(url, run_id, both, as_of or date.today())
    (mine,) = outcomes[outcomes.override_id == 0].itertuples()
    if mine.message.startswith("rejected"):
        return "this override " + mine.message.replace("override 0 ", "it ")
    return None


def preview(
    reader_url: str, run_id: int, new: dict, in_force: pd.DataFrame, as_of: date | None = None
) -> tuple[bool, str, pd.DataFrame]:
    """What saving ``new`` would do to the served run, read from the marts as the reader: with
    the overrides in force (``in_force``, ``OVERRIDE_COLUMNS``), whether it would hold (and why
    not), and the range's total before and after for its node, the nodes that contain it and the
    nodes inside it one level down."""
    mine = pd.DataFrame([{**{c: new.get(c) for c in OVERRIDE_COLUMNS}, "override_id": 0}])
    others = in_force[in_force.override_id != (new.get("supersedes") or -1)]
    overrides = pd.concat([others, mine], ignore_index=True) if len(others) else mine
    state, outcomes = plan(reader_url, run_id, overrides, as_of or date.today(), "marts")
    (outcome,) = outcomes[outcomes.override_id == 0].itertuples()
    if state is None or not outcome.applied:
        return False, outcome.message, pd.DataFrame()
    h, days, before, result = state
    node = h.node_index()[(new["level"], new["node_key"])]
    span = pd.date_range(new["date_from"], new["date_to"])
    cols = np.flatnonzero(days.isin(span))
    S = h.S
    shared = (S @ S[node].T).toarray().ravel()
    size = np.asarray(S.sum(axis=1)).ravel()
    above = np.flatnonzero((shared == size[node]) & (size > size[node]))
    inside = np.flatnonzero((shared == size) & (size < size[node]))
    rank = {name: i for i, (name, _) in enumerate(HIERARCHY_LEVELS)}
    levels = h.nodes["level"].to_numpy()
    if len(inside):  # one level down: the coarsest level among the nodes inside
        top = min(rank[lv] for lv in levels[inside])
        inside = inside[[rank[lv] == top for lv in levels[inside]]]
    rows = [("this node", node), *(("contains it", j) for j in above),
            *(("inside it", j) for j in inside[:50])]  # fmt: skip
    table = pd.DataFrame(
        [
            (role, levels[j], h.nodes["node_key"].iat[j], before[j, cols].sum(),
             result.yhat[j, cols].sum())
            for role, j in rows
        ],
        columns=["role", "level", "node_key", "statistical", "adjusted"],
    )  # fmt: skip
    table["change_pct"] = np.where(
        table["statistical"] > 0, 100 * (table["adjusted"] / table["statistical"] - 1), np.nan
    )
    roles = {"this node": 0, "contains it": 1, "inside it": 2}
    table = table.assign(_r=table["role"].map(roles), _l=table["level"].map(rank))
    table = table.sort_values(["_r", "_l", "node_key"]).drop(columns=["_r", "_l"])
    return True, outcome.message, table.reset_index(drop=True)


def override_table(url: str, in_force_only: bool = True) -> pd.DataFrame:
    """The overrides as `marts.fct_overrides` shows them (built by the pipeline's dbt step)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select override_id, state, level, node_key, date_from, date_to, kind, value,
                      author, created_at::date as saved_on, reason, outcome
                 from marts.fct_overrides"""
            + (" where is_in_force" if in_force_only else "")
            + " order by override_id"
        )
        cols = [d.name for d in rows.description]
        return pd.DataFrame(rows.fetchall(), columns=cols)


def _adjusted_rows(run_id: int, application_id: int, state) -> pd.DataFrame:
    h, days, before, result = state
    after: OverrideResult = result
    moved = np.abs(after.yhat - before) > CHANGED * np.maximum(np.abs(before), 1.0)
    moved |= after.pinned
    node, day = np.nonzero(moved)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "application_id": application_id,
            "level": h.nodes["level"].to_numpy()[node],
            "node_key": h.nodes["node_key"].to_numpy()[node],
            "forecast_date": days[day].date,
            "yhat": after.yhat[node, day],
            "yhat_q50": after.q50[node, day],
            "yhat_lo80": after.lo80[node, day],
            "yhat_hi80": after.hi80[node, day],
            "is_pinned": after.pinned[node, day],
        }
    )


def _record(url, run_id, as_of, outcomes, state, started) -> Application:
    """The application, its outcomes and the adjusted node-days, in one transaction."""
    outcomes = outcomes[OUTCOME_COLUMNS] if len(outcomes) else outcomes
    applied = int(outcomes["applied"].sum()) if len(outcomes) else 0
    with psycopg.connect(url) as conn:
        application_id = conn.execute(
            """insert into forecast.override_applications
                   (run_id, as_of, overrides, applied, rejected, node_days, seconds)
               values (%s, %s, %s, %s, %s, 0, 0) returning application_id""",
            (run_id, as_of, len(outcomes), applied, len(outcomes) - applied),
        ).fetchone()[0]
        copy_frames(
            conn,
            "forecast.override_outcomes",
            ["application_id", *OUTCOME_COLUMNS],
            [outcomes.assign(application_id=application_id)],
        )
        conn.execute("delete from forecast.adjusted_values where run_id = %s", (run_id,))
        rows = 0
        if state is not None:
            frame = _adjusted_rows(run_id, application_id, state)
            rows = copy_frames(conn, "forecast.adjusted_values", ADJUSTED_COLUMNS, [frame])
        seconds = time.perf_counter() - started
        conn.execute(
            "update forecast.override_applications set node_days = %s, seconds = %s"
            " where application_id = %s",
            (rows, seconds, application_id),
        )
    return Application(application_id, run_id, outcomes, rows, seconds)


def changed_since_applied(url: str, run_id: int) -> bool:
    """Whether an override was saved after the run's last application (or it has none)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select coalesce((select max(created_at) from planning.overrides), '-infinity')
                      > coalesce((select max(applied_at) from forecast.override_applications
                                   where run_id = %s), '-infinity'),
                      (select max(as_of) from forecast.override_applications where run_id = %s)
                      is distinct from current_date""",
            (run_id, run_id),
        ).fetchone()
    # a new override, or a new day (an override may have expired since)
    return bool(row[0] or row[1])
