"""`make bench-load`: generate + load a tier next to a plain COPY of the same rows, then dbt build.

The ratio is measured side by side in one run on the same server: the plain COPY streams a CSV
file of exactly the rows the loader writes (prepared beforehand, not timed) into a table shaped
like raw.daily_sales. Results go to the console and to bench_results/load-<tier>.json.
"""

from __future__ import annotations

import platform
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.results import RESULTS_DIR, write_results
from ingest.generator import ChainSpec, build_chain
from ingest.seed import load_chain, sales_csv
from warehouse.db import apply_infra
from warehouse.dbt import run_dbt


@dataclass
class LoadBenchmark:
    tier: str
    rows: int
    seed_seconds: float
    seed_rows_per_s: float
    plain_copy_seconds: float
    plain_copy_rows_per_s: float
    ratio_vs_plain_copy: float
    dbt_build_seconds: float | None
    dbt_passed: int | None
    dbt_failed: int | None
    peak_rss_mb: float
    versions: dict
    command: str


def _bench_url(server_url: str, name: str = "frycast_bench") -> str:
    parts = urlsplit(server_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def _plain_copy(url: str, csv_path: Path) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists raw.bench_plain_copy")
        conn.execute("create table raw.bench_plain_copy (like raw.daily_sales including all)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("copy raw.bench_plain_copy from stdin with (format csv)") as copy,
            csv_path.open("rb") as f,
        ):
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("drop table raw.bench_plain_copy")
    return seconds


def run(tier: str, server_url: str, *, with_dbt: bool = True) -> LoadBenchmark:
    url = _bench_url(server_url)
    apply_infra(url)
    spec = ChainSpec.for_tier(tier)
    chain = build_chain(spec)

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "sales.csv"
        with csv_path.open("wb") as f:
            for chunk in sales_csv(chain, batch_id=0):
                f.write(chunk)
        report = load_chain(url, chain)  # generate + COPY, timed inside
        plain = _plain_copy(url, csv_path)

    dbt_s = passed = failed = None
    if with_dbt:
        started = time.perf_counter()
        res = run_dbt(["build", "--full-refresh"], url)
        dbt_s, passed, failed = time.perf_counter() - started, res.passed, res.failed

    rows = report.sales_rows
    return LoadBenchmark(
        tier=tier,
        rows=rows,
        seed_seconds=round(report.seconds, 2),
        seed_rows_per_s=round(rows / report.seconds),
        plain_copy_seconds=round(plain, 2),
        plain_copy_rows_per_s=round(rows / plain),
        ratio_vs_plain_copy=round(plain / report.seconds, 3),
        dbt_build_seconds=None if dbt_s is None else round(dbt_s, 1),
        dbt_passed=passed,
        dbt_failed=failed,
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        versions={
            "python": platform.python_version(),
            "postgres": _server_version(url),
            **{p: version(p) for p in ("psycopg", "pyarrow", "numpy", "dbt-core", "dbt-postgres")},
        },
        command=" ".join(["frycast", *sys.argv[1:]]) if sys.argv else "frycast bench load",
    )


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("show server_version").fetchone()[0]


def write(result: LoadBenchmark, out_dir: Path = RESULTS_DIR) -> Path:
    return write_results(f"load-{result.tier}.json", asdict(result), out_dir)


def format_table(results: list[LoadBenchmark]) -> str:
    head = (
        f"{'tier':<8}{'rows':>12}{'load s':>9}{'load rows/s':>13}{'COPY s':>9}"
        f"{'COPY rows/s':>13}{'ratio':>7}{'dbt build s':>13}{'peak RSS MB':>13}"
    )
    lines = [head]
    for r in results:
        dbt = "-" if r.dbt_build_seconds is None else f"{r.dbt_build_seconds:.1f}"
        lines.append(
            f"{r.tier:<8}{r.rows:>12,}{r.seed_seconds:>9.1f}{r.seed_rows_per_s:>13,}"
            f"{r.plain_copy_seconds:>9.1f}{r.plain_copy_rows_per_s:>13,}"
            f"{r.ratio_vs_plain_copy:>7.2f}{dbt:>13}{r.peak_rss_mb:>13,.0f}"
        )
    return "\n".join(lines)
