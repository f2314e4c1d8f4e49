"""`frycast bench pipeline --tier …`: the whole pipeline on a fresh database, timed stage by stage.

generate + load → `forecast_pipeline` (dbt build, data quality, load panel, backtest, train +
forecast, reconcile, write, forecast marts, gates, publish, snapshot) → one more week of sales
through the importer → the weekly rerun: `forecast_pipeline` again (incremental dbt, the new
batch's checks, the whole forecast), recorded apart. Each stage's wall time and the peak
resident memory of this process tree while it ran (frycast/stages.py), the forecast write's
speed against a plain COPY of the same rows, each run's gate outcome, the versions and the
command go to the console and to bench_results/pipeline-<tier>.json. The database
(frycast_bench_<tier>) is dropped and created again at the start, so every run measures the
same work. A run a gate halts is timed all the same and says so (a benchmark is not a gate).
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg

from bench.results import fresh_database, write_results
from frycast.stages import recording, stage
from warehouse.db import apply_infra
from warehouse.forecast_store import VALUE_COLUMNS

FORECAST_COLUMNS = ", ".join(VALUE_COLUMNS)


@dataclass
class PipelineBenchmark:
    tier: str
    config: dict
    sales_rows: int
    series: int
    nodes: int
    forecast_rows: int
    total_seconds: float
    peak_rss_mb: float
    stages: list[dict]
    write_rows_per_s: float
    plain_copy_rows_per_s: float
    write_ratio_vs_plain_copy: float
    dbt_full_seconds: float
    dbt_incremental_seconds: float
    dbt_incremental_share: float
    outcome: str  # published, or the gate that halted the run
    rerun_seconds: float  # one more week imported, then the whole pipeline again
    rerun_peak_rss_mb: float
    rerun_stages: list[dict]
    rerun_outcome: str
    versions: dict
    command: str


def _plain_copy_forecast(url: str, run_id: int) -> tuple[int, float]:
    """COPY the run's forecast rows, prepared as CSV beforehand, into a bare copy of the table."""
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(url) as conn:
        path = Path(tmp) / "forecast.csv"
        with (
            path.open("wb") as f,
            conn.cursor().copy(
                f"copy (select {FORECAST_COLUMNS} from forecast.forecast_values"
                f" where run_id = {int(run_id)}) to stdout with (format csv)"
            ) as out,
        ):
            for block in out:
                f.write(block)
        conn.execute("drop table if exists forecast.bench_plain_copy")
        conn.execute(
            "create table forecast.bench_plain_copy (like forecast.forecast_values including all)"
        )
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor().copy(
                f"copy forecast.bench_plain_copy ({FORECAST_COLUMNS}) from stdin with (format csv)"
            ) as cp,
            path.open("rb") as f,
        ):
            while block := f.read(1 << 20):
                cp.write(block)
        seconds = time.perf_counter() - started  # like the pipeline's write stage: COPY only
        conn.commit()
        rows = conn.execute("select count(*) from forecast.bench_plain_copy").fetchone()[0]
        conn.execute("drop table forecast.bench_plain_copy")
    return rows, seconds


def _next_week_export(url: str, directory: Path, days: int = 7) -> Path:
    """The next week's daily export, as restaurants would send it: the last week's rows, a week
    on."""
    path = directory / "next_week.csv"
    with (
        psycopg.connect(url) as conn,
        path.open("wb") as f,
        conn.cursor().copy(
            f"""copy (
             select restaurant_id, sku_id, sale_date + {int(days)} as sale_date, units, net_sales,
                    unit_price, on_promo
               from raw.daily_sales
              where sale_date > (select max(sale_date) from raw.daily_sales) - {int(days)}
           ) to stdout with (format csv, header)"""
        ) as out,
    ):
        for block in out:
            f.write(block)
    return path


def _pipeline(url: str, overrides: dict) -> tuple[int, str]:
    """Run the pipeline; its run id and outcome ("published" or the halting gate's message)."""
    from flows.pipeline import GateHalted, forecast_pipeline

    try:
        return forecast_pipeline(url=url, **overrides)["run_id"], "published"
    except GateHalted as halted:
        return halted.run_id, f"halted: {halted}"[:300]


def run(tier: str, server_url: str, **overrides) -> PipelineBenchmark:
    from ingest.daily import import_daily
    from ingest.generator import ChainSpec, build_chain
    from ingest.seed import load_chain

    url = fresh_database(server_url, f"frycast_bench_{tier}", infra=False)
    apply_infra(url)
    started = time.perf_counter()
    with recording() as rec:
        with stage("generate + load"):
            report = load_chain(url, build_chain(ChainSpec.for_tier(tier)))
        run_id, outcome = _pipeline(url, overrides)
    total = time.perf_counter() - started
    plain_rows, plain_s = _plain_copy_forecast(url, run_id)
    with psycopg.connect(url) as conn:
        series, nodes = conn.execute(
            "select count(*) filter (where level = 'restaurant_sku'), count(*)"
            "  from (select distinct level, node_key from forecast.forecast_values"
            "         where run_id = %s) n",
            (run_id,),
        ).fetchone()
    # the weekly rerun: a week of new sales, then the whole pipeline again
    with tempfile.TemporaryDirectory() as tmp:
        export = _next_week_export(url, Path(tmp))
        rerun_started = time.perf_counter()
        with recording() as again:
            with stage("import one more week"):
                import_daily(url, export)
            _, rerun_outcome = _pipeline(url, overrides)
        rerun_total = time.perf_counter() - rerun_started
    stats = {s["stage"]: s for s in rec.table()}
    rerun_stats = {s["stage"]: s for s in again.table()}
    write_s = stats["write forecast_values"]["seconds"]
    full_s = stats["dbt build (warehouse)"]["seconds"]
    inc_s = rerun_stats["dbt build (warehouse)"]["seconds"]
    return PipelineBenchmark(
        tier=tier,
        config=overrides,
        sales_rows=report.sales_rows,
        series=series,
        nodes=nodes,
        forecast_rows=plain_rows,
        total_seconds=round(total, 1),
        peak_rss_mb=round(rec.peak_rss_mb),
        stages=rec.table(),
        write_rows_per_s=round(plain_rows / write_s),
        plain_copy_rows_per_s=round(plain_rows / plain_s),
        write_ratio_vs_plain_copy=round(plain_s / write_s, 3),
        dbt_full_seconds=full_s,
        dbt_incremental_seconds=inc_s,
        dbt_incremental_share=round(inc_s / full_s, 3),
        outcome=outcome,
        rerun_seconds=round(rerun_total, 1),
        rerun_peak_rss_mb=round(again.peak_rss_mb),
        rerun_stages=again.table(),
        rerun_outcome=rerun_outcome,
        versions={
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {_cores()} cores",
            "postgres": _server_version(url),
            **{
                p: version(p)
                for p in (
                    "prefect",
                    "dbt-core",
                    "dbt-postgres",
                    "lightgbm",
                    "xgboost-cpu",
                    "sktime",
                    "statsforecast",
                    "numpy",
                    "psycopg",
                )
            },
        },
        command=" ".join(["frycast", *sys.argv[1:]])
        if sys.argv
        else f"frycast bench pipeline --tier {tier}",
    )


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("show server_version").fetchone()[0]


def write(result: PipelineBenchmark) -> Path:
    return write_results(f"pipeline-{result.tier}.json", asdict(result))


def format_report(r: PipelineBenchmark) -> str:
    lines = [
        f"tier {r.tier}: {r.sales_rows:,} sales rows, {r.series:,} bottom series,"
        f" {r.nodes:,} nodes, {r.forecast_rows:,} forecast rows;"
        f" end to end {r.total_seconds:,.0f} s,"
        f" peak RSS {r.peak_rss_mb:,.0f} MB",
        "",
        "| stage | seconds | peak RSS MB |",
        "|---|---|---|",
        *(f"| {s['stage']} | {s['seconds']:,.1f} | {s['peak_rss_mb']:,} |" for s in r.stages),
        "",
        f"forecast write: {r.write_rows_per_s:,} rows/s vs plain COPY {r.plain_copy_rows_per_s:,}"
        f" rows/s (ratio {r.write_ratio_vs_plain_copy:.2f})",
        f"first run: {r.outcome}",
        "",
        f"rerun after one new week: {r.rerun_seconds:,.0f} s, peak RSS"
        f" {r.rerun_peak_rss_mb:,.0f} MB ({r.rerun_outcome})",
        "",
        "| stage | seconds | peak RSS MB |",
        "|---|---|---|",
        *(f"| {s['stage']} | {s['seconds']:,.1f} | {s['peak_rss_mb']:,} |" for s in r.rerun_stages),
        "",
        f"dbt after one new week: {r.dbt_incremental_seconds:,.1f} s vs full"
        f" {r.dbt_full_seconds:,.1f} s ({r.dbt_incremental_share:.0%})",
        f"versions: {r.versions}",
        f"command: {r.command}",
    ]
    return "\n".join(lines)
