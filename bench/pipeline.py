"""`frycast bench pipeline --tier …`: the whole pipeline on a fresh database, timed stage by stage.

generate + load → `forecast_pipeline` (dbt build, data quality, load panel, backtest, train +
forecast, reconcile, write, forecast marts, gates, publish, snapshot) → one more day of sales
through the importer, an incremental dbt build and the data-quality checks a next run makes.
Each stage's wall time and the peak resident memory of this process tree while it ran
(frycast/stages.py), the forecast write's speed against a plain COPY of the same rows, the
versions and the command go to the console and to bench_results/pipeline-<tier>.json. The
database (frycast_bench_<tier>) is dropped and created again at the start, so every run measures
the same work.
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


def _next_day_export(url: str, directory: Path) -> Path:
    """The next day's daily export, as a restaurant would send it: the last day's rows, a day on."""
    path = directory / "next_day.csv"
    with (
        psycopg.connect(url) as conn,
        path.open("wb") as f,
        conn.cursor().copy(
            """copy (
             select restaurant_id, sku_id, sale_date + 1 as sale_date, units, net_sales,
                    unit_price, on_promo
               from raw.daily_sales
              where sale_date = (select max(sale_date) from raw.daily_sales)
           ) to stdout with (format csv, header)"""
        ) as out,
    ):
        for block in out:
            f.write(block)
    return path


def run(tier: str, server_url: str, **overrides) -> PipelineBenchmark:
    from flows.pipeline import WAREHOUSE_MODELS, forecast_pipeline
    from ingest.daily import import_daily
    from ingest.generator import ChainSpec, build_chain
    from ingest.seed import load_chain
    from quality import checks as quality
    from warehouse.dbt import run_dbt

    url = fresh_database(server_url, f"frycast_bench_{tier}", infra=False)
    apply_infra(url)
    started = time.perf_counter()
    with recording() as rec:
        with stage("generate + load"):
            report = load_chain(url, build_chain(ChainSpec.for_tier(tier)))
        result = forecast_pipeline(url=url, **overrides)
        total = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            export = _next_day_export(url, Path(tmp))
            with stage("import one more day"):
                import_daily(url, export)
            with stage("dbt build after one new day"):
                incremental = run_dbt(WAREHOUSE_MODELS, url)
            # what the next run's data-quality step checks: the new batch, and every batch's count
            with stage("data quality after one new day"):
                quality.run_expectations(url)
        if not incremental.success:
            raise RuntimeError("incremental dbt build failed: " + "; ".join(incremental.failures))
    run_id = result["run_id"]
    plain_rows, plain_s = _plain_copy_forecast(url, run_id)
    with psycopg.connect(url) as conn:
        series, nodes = conn.execute(
            "select count(*) filter (where level = 'restaurant_sku'), count(*)"
            "  from (select distinct level, node_key from forecast.forecast_values"
            "         where run_id = %s) n",
            (run_id,),
        ).fetchone()
    stats = {s["stage"]: s for s in rec.table()}
    write_s = stats["write forecast_values"]["seconds"]
    full_s = stats["dbt build (warehouse)"]["seconds"]
    inc_s = stats["dbt build after one new day"]["seconds"]
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
        f"dbt after one new day: {r.dbt_incremental_seconds:,.1f} s vs full"
        f" {r.dbt_full_seconds:,.1f} s ({r.dbt_incremental_share:.0%})",
        f"versions: {r.versions}",
        f"command: {r.command}",
    ]
    return "\n".join(lines)
