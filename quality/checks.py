"""Data quality: Great Expectations suites (as code) on raw and staging tables and dbt test
results, both stored in ``forecast.dq_results`` (the gate that reads them is
``agents.rules.data_quality_gate``).

Row-level suites check the rows of batches loaded since the last succeeded run's checks (every
row on the first run): a loaded batch never changes, so re-reading 25 M old rows each run (six
minutes on the chain tier) would prove nothing new. What keeps that true is checked every run:
each loaded batch still holds exactly the rows it loaded.

The rules run set-based in the database: one aggregate per table counts the rows breaking each
rule, and GX judges those counts (first pass on the chain tier: 30 s, from 150 s when GX ran a
query per metric over the rows).

Every expectation carries a severity in its ``meta``: a failed *critical* check halts the
pipeline before training; a *warning* is recorded and shown, and the run goes on.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd
import psycopg

from warehouse.copy import SALES_COLUMNS
from warehouse.dbt import DbtResult

log = logging.getLogger(__name__)

VOLUME_RATIO = (0.5, 2.0)  # the latest load's rows vs the previous load's of the same source
STALE_AFTER_DAYS = 7  # warning when the newest load is older than this
CHECK_WORK_MEM = "256MB"  # the checks' sessions (the server's default is 4 MB)


@dataclass
class Check:
    source: str
    check_name: str
    table_name: str | None
    severity: str
    success: bool
    observed: str | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """The loaded batches a run checks row by row: ``after`` < batch_id <= ``through``."""

    after: int  # the newest batch a succeeded run checked (0: none yet)
    through: int  # the newest loaded batch when this run's checks began

    def where(self) -> str:
        return f"batch_id > {int(self.after)} and batch_id <= {int(self.through)}"

    def label(self) -> str:
        if self.after == 0:
            return "every batch"
        if self.through <= self.after:
            return "no new batch"
        if self.through == self.after + 1:
            return f"batch {self.through}"
        return f"batches {self.after + 1}–{self.through}"


def validation_window(url: str, through: int | None = None) -> Window:
    """The batches to check: after what the last succeeded run checked, through the high-water
    mark of the build just made (``through``; else what staging was built through; before
    staging exists, the newest loaded batch). A batch loaded after the build began is checked
    with the build that takes it in, never skipped."""
    with psycopg.connect(url) as conn:
        after = conn.execute(
            """select coalesce(max(validated_through_batch_id), 0)
                 from forecast.forecast_runs where status = 'succeeded'"""
        ).fetchone()[0]
        if through is not None:
            return Window(min(after, through), through)
        staged = conn.execute("select to_regclass('staging.stg_raw__daily_sales')").fetchone()[0]
        through = conn.execute(
            "select coalesce(max(built_through_batch_id), 0) from staging.stg_raw__daily_sales"
            if staged
            else "select coalesce(max(batch_id), 0) from raw.load_batches where status = 'loaded'"
        ).fetchone()[0]
    return Window(min(after, through), through)


def mark_validated(url: str, run_id: int, window: Window) -> None:
    """Record what this run checked; it counts once the run succeeds."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "update forecast.forecast_runs set validated_through_batch_id = %s where run_id = %s",
            (window.through, run_id),
        )


# One row per loaded batch: the rows it loaded and the rows the raw tables hold for it now
# (one grouped pass over batch_id per table, the cost of a later run's checks).
BATCH_ROWS = """
select b.batch_id, b.source, b.rows_loaded, coalesce(n.rows_now, 0) as rows_now
from raw.load_batches b
left join (
    select batch_id, count(*) as rows_now from raw.daily_sales group by batch_id
    union all
    select batch_id, count(*) from raw.order_lines group by batch_id
) n using (batch_id)
where b.status = 'loaded'
"""


# The row-level rules as set-based SQL: one aggregate per table counts, in the database, the rows
# of the window that break each rule, and Great Expectations judges those counts (one row per
# asset). GX's own row-level expectations issue a query per metric and a second one for the
# unexpected rows (150 s on the chain tier's first pass, 60 s of it the compound-key check alone);
# this reads each table once (the key check as one sort) and keeps the counts as the evidence.
RAW_ROWS = """
select p.rows_checked, p.rows_with_negative_units, d.rows_repeating_a_key
from (
    select count(*) as rows_checked, count(*) filter (where units < 0) as rows_with_negative_units
    from raw.daily_sales where {where}
) as p
cross join (
    -- a row repeating another's batch, restaurant, SKU and day (the importer rejects repeats
    -- within a file; this catches rows that went around it)
    select count(*) as rows_repeating_a_key
    from (
        select row_number() over (
            partition by batch_id, restaurant_id, sku_id, sale_date
        ) as copy_no
        from raw.daily_sales where {where}
    ) as numbered
    where copy_no > 1
) as d
"""

STAGING_ROWS = """
select
    count(*) as rows_checked,
    count(*) filter (where units < 0) as rows_with_negative_units,
    -- a day selling 5,000 of one item in one restaurant is a unit or a keying error
    coalesce(avg((units > 5000)::int), 0)::float as share_units_over_5000,
    -- (avg skips a null price: a day without a usable price is not a wrong price)
    coalesce(avg((unit_price < 0 or unit_price > 100)::int), 0)::float as share_price_outside_0_100
from staging.stg_raw__daily_sales where {where}
"""


def _suites(url: str, window: Window):
    """(asset name, query, what the checks read, suite name, expectations): the suites."""
    import great_expectations.expectations as gxe

    crit, warn = {"severity": "critical"}, {"severity": "warning"}
    previous, _ = _load_volumes(url)
    volume = []
    if previous:
        lo, hi = (int(previous * r) for r in VOLUME_RATIO)
        volume = [
            gxe.ExpectColumnMaxToBeBetween(
                column="rows_in_latest_batch", min_value=lo, max_value=hi, meta=warn
            )
        ]
    scope, latest = window.label(), int(window.through)

    def at_most(column: str, value: float, meta: dict):  # the observed value is the count
        return gxe.ExpectColumnMaxToBeBetween(column=column, max_value=value, meta=meta)

    # NOT NULL columns and the staging grain are enforced by the tables (NOT NULL, a unique
    # index): checks of them could never fail, so there are none
    return [
        (
            "raw_batches",
            BATCH_ROWS,
            "raw.daily_sales, raw.order_lines (rows per loaded batch)",
            "raw_batches",
            [
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="rows_loaded", column_B="rows_now", meta=crit
                ),
                gxe.ExpectColumnSumToBeBetween(column="rows_now", min_value=1, meta=crit),
            ],
        ),
        (
            "raw_daily_sales_columns",
            "select * from raw.daily_sales where false",
            "raw.daily_sales (columns)",
            "raw_daily_sales_columns",
            [
                gxe.ExpectTableColumnsToMatchSet(
                    column_set=list(SALES_COLUMNS), exact_match=False, meta=crit
                )
            ],
        ),
        (
            "raw_daily_sales",
            RAW_ROWS.format(where=window.where()),
            f"raw.daily_sales ({scope})",
            "raw_daily_sales",
            [
                at_most("rows_with_negative_units", 0, crit),
                at_most("rows_repeating_a_key", 0, crit),
            ],
        ),
        (
            "staging_daily_sales",
            STAGING_ROWS.format(where=window.where()),
            f"staging.stg_raw__daily_sales ({scope})",
            "staging_daily_sales",
            [
                at_most("rows_with_negative_units", 0, crit),
                at_most("share_units_over_5000", 0.0001, warn),
                at_most("share_price_outside_0_100", 0.001, warn),
            ],
        ),
        (
            "latest_load",
            f"select (select count(*) from raw.daily_sales where batch_id = {latest})"
            f" + (select count(*) from raw.order_lines where batch_id = {latest})"
            " as rows_in_latest_batch",
            "raw.daily_sales, raw.order_lines (latest batch)",
            "latest_load_volume",
            volume,
        ),
    ]


def _load_volumes(url: str) -> tuple[int | None, int | None]:
    """Rows of the newest loaded batch and of the one before it from the same source."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select rows_loaded from raw.load_batches
                where status = 'loaded'
                  and source = (select source from raw.load_batches where status = 'loaded'
                                 order by batch_id desc limit 1)
                order by batch_id desc limit 2"""
        ).fetchall()
    latest = rows[0][0] if rows else None
    previous = rows[1][0] if len(rows) > 1 else None
    return previous, latest


def run_expectations(url: str, window: Window | None = None) -> list[Check]:
    """Validate every suite with GX Core; one Check per expectation. The database computes each
    suite's evidence set-based (a row per batch, or one row of counts per table, two sessions at
    once); GX judges those small frames, so no rule reads a table twice. Row-level suites count
    the batches in ``window`` (default: :func:`validation_window`)."""
    import great_expectations as gx

    window = window or validation_window(url)
    suites = [suite for suite in _suites(url, window) if suite[4]]
    with ThreadPoolExecutor(2) as pool:  # the raw key check sorts; the rest fit beside it
        frames = list(pool.map(lambda suite: _evidence(url, suite[1]), suites))
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}
    # a dataframe asset takes its frame at run time (GX 1.x: "Connect to dataframe data",
    # batch_parameters={"dataframe": df})
    ds = ctx.data_sources.add_pandas("warehouse_evidence")
    checks: list[Check] = []
    for (asset_name, _, qualified, suite_name, expectations), frame in zip(
        suites, frames, strict=True
    ):
        batch = ds.add_dataframe_asset(asset_name).add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
        for e in expectations:
            suite.add_expectation(e)
        result = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        ).run(batch_parameters={"dataframe": frame})
        for r in result.results:
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
            pair = [kwargs[c] for c in ("column_A", "column_B") if c in kwargs]
            col = kwargs.get("column") or ",".join(kwargs.get("column_list") or pair)
            res = r.result or {}
            observed = res.get("observed_value")
            if observed is None and res.get("unexpected_count") is not None:
                observed = f"{res['unexpected_count']} unexpected"
            checks.append(
                Check(
                    "great_expectations",
                    f"{suite_name}.{cfg.type}" + (f"[{col}]" if col else ""),
                    qualified,
                    (cfg.meta or {}).get("severity", "critical"),
                    bool(r.success),
                    None if observed is None else str(observed)[:500],
                    {"kwargs": json.loads(json.dumps(kwargs, default=str))},
                )
            )
    return checks


def _evidence(url: str, query: str) -> pd.DataFrame:
    """A suite's evidence: a small result (a row per batch, or one row of counts)."""
    with psycopg.connect(url) as conn:
        # the key check sorts the window's rows: room to do it in memory, not in 4 MB runs
        conn.execute(f"set work_mem = '{CHECK_WORK_MEM}'")
        cur = conn.execute(query)
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def freshness(url: str) -> Check:
    """How old the newest loaded batch is (a warning: the pipeline still runs on old data)."""
    with psycopg.connect(url) as conn:
        age = conn.execute(
            "select extract(epoch from now() - max(started_at)) / 86400"
            " from raw.load_batches where status = 'loaded'"
        ).fetchone()[0]
    ok = age is not None and age <= STALE_AFTER_DAYS
    return Check(
        "great_expectations",
        "freshness.newest_load_age_days",
        "raw.load_batches",
        "warning",
        ok,
        None if age is None else f"{float(age):.1f} days",
    )


REJECTED_SHARE = 0.01  # a batch that lost more of its lines than this warns


def rejections(url: str, window: Window) -> Check:
    """Each batch in the window lost at most REJECTED_SHARE of its lines to rejection (a warning
    naming the batches: their good lines loaded, the rest wait in raw.rejected_rows)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"""select batch_id, file_name, rows_rejected, rows_read from raw.load_batches
                 where status = 'loaded' and {window.where()} and rows_read > 0
                   and rows_rejected > %s * rows_read
                 order by batch_id""",
            (REJECTED_SHARE,),
        ).fetchall()
    observed = "; ".join(
        f"batch {b} ({name or 'generated'}): {rej:,} of {read:,} lines rejected ({rej / read:.1%})"
        for b, name, rej, read in rows
    )
    return Check(
        "great_expectations",
        f"load_batches.rejected_share_at_most_{REJECTED_SHARE:g}",
        "raw.load_batches",
        "warning",
        not rows,
        observed[:500] or None,
        {"batches": [r[0] for r in rows]},
    )


def partial_days(url: str) -> Check:
    """Restaurant-days reported in part (too few of the restaurant's usual items, and no batch
    declared them complete): their missing items are unknown, not zero. A warning naming them."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('intermediate.int_restaurant_days')").fetchone()[0]:
            rows = conn.execute(
                """select restaurant_id, count(*), min(calendar_day), max(calendar_day),
                          string_agg(calendar_day::text, ', ' order by calendar_day)
                     from intermediate.int_restaurant_days where is_partial
                    group by restaurant_id order by restaurant_id"""
            ).fetchall()
        else:
            rows = []
    observed = "; ".join(
        f"{r}: {n} days" + (f" ({days})" if n <= 5 else f" ({first} … {last})")
        for r, n, first, last, days in rows
    )
    return Check(
        "great_expectations",
        "restaurant_days.reported_in_full",
        "intermediate.int_restaurant_days",
        "warning",
        not rows,
        observed[:500] or None,
        {"restaurants": {r: n for r, n, *_ in rows}},
    )


def silent_restaurants(url: str, after_days: int) -> Check:
    """Restaurants whose data ends more than ``after_days`` before the latest restaurant's: they
    stopped reporting, and the forecast from the common origin leaves them out (or bridges their
    gap: FRYCAST_STALE_RESTAURANTS=forecast). A warning naming each with its last day
    (FRYCAST_STALE_AFTER_DAYS sets the threshold)."""
    from warehouse.panel_io import stale_restaurants

    try:
        stale = stale_restaurants(url, None, after_days)
    except psycopg.errors.UndefinedTable:  # features not built yet: dbt's failure says so
        stale = {}
    observed = "; ".join(f"{r}: last day {d}" for r, d in sorted(stale.items()))
    return Check(
        "great_expectations",
        f"restaurants.reported_within_{after_days}_days_of_the_latest",
        "features.feat_series",
        "warning",
        not stale,
        observed[:500] or None,
        {"restaurants": {r: str(d) for r, d in sorted(stale.items())}},
    )


def dbt_checks(result: DbtResult) -> list[Check]:
    """dbt test outcomes as checks (dbt tests are errors: critical)."""
    out = []
    for name, target, status, failures, message in result.tests:
        ok = status in ("pass", "success")
        out.append(
            Check(
                "dbt",
                name,
                target,
                "warning" if status == "warn" else "critical",
                ok or status == "warn",
                None if failures is None else f"{failures} failing rows",
                {"status": status, "message": message},
            )
        )
    return out


def store(url: str, run_id: int, checks: list[Check]) -> int:
    """Replace the run's dq_results with ``checks`` (re-running the step is idempotent)."""
    with psycopg.connect(url) as conn:
        conn.execute("delete from forecast.dq_results where run_id = %s", (run_id,))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into forecast.dq_results
                   (run_id, source, check_name, table_name, severity, success, observed, details)
                   values (%s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (run_id, source, check_name) do update
                   set success = excluded.success and forecast.dq_results.success""",
                [
                    (
                        run_id,
                        c.source,
                        c.check_name,
                        c.table_name,
                        c.severity,
                        c.success,
                        c.observed,
                        json.dumps(c.details),
                    )
                    for c in checks
                ],
            )
    return len(checks)
