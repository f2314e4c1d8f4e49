"""`frycast bench distributed`: the bottom-level engine (backtest + final fits) serially, then as
Prefect tasks on a local Dask cluster of 1 and 2 workers, side by side on the same panel.

The panel comes from a fresh `frycast_bench_<tier>` database (generated, loaded, dbt-built), so the
three runs do the same work; their forecasts are checked equal before any time is reported.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, replace

import pandas as pd

from bench.results import write_results


@dataclass
class DistributedBenchmark:
    tier: str
    series: int
    days: int
    models: list[str]
    serial_seconds: float
    dask_seconds: dict[int, float]
    speedup_2_vs_1: float
    equal_to_serial: bool
    command: str
    versions: dict


def run(tier: str, server_url: str, workers=(1, 2), **overrides) -> DistributedBenchmark:
    from importlib.metadata import version

    from bench.results import fresh_database
    from flows.distributed import dask_mapper
    from frycast.settings import get_settings
    from ingest.generator import ChainSpec, build_chain
    from ingest.seed import load_chain
    from ml.engine import run_engine
    from warehouse.db import apply_infra
    from warehouse.dbt import run_dbt
    from warehouse.panel_io import load_panel

    url = fresh_database(server_url, f"frycast_bench_{tier}")
    apply_infra(url)
    load_chain(url, build_chain(ChainSpec.for_tier(tier)))
    if not run_dbt(["build", "--exclude", "source:forecast+"], url).success:
        raise RuntimeError("dbt build failed")
    from flows.forecast import engine_config

    config = engine_config(get_settings(), **overrides)
    panel = load_panel(url, horizon=config.horizon)

    started = time.perf_counter()
    serial = run_engine(panel, config)
    serial_s = time.perf_counter() - started
    # single-threaded models inside each worker: the workers are the parallelism
    one_thread = replace(config, n_jobs=1)
    timings, equal = {}, True
    for n in workers:
        started = time.perf_counter()
        with dask_mapper(n_workers=n) as mapper:
            spread = run_engine(panel, one_thread, mapper=mapper, n_chunks=2 * n)
        timings[n] = round(time.perf_counter() - started, 1)
        try:
            pd.testing.assert_frame_equal(spread.forecasts, serial.forecasts, atol=1e-6)
        except AssertionError:
            equal = False
    return DistributedBenchmark(
        tier=tier,
        series=panel.n_series,
        days=len(panel.dates),
        models=list(config.models),
        serial_seconds=round(serial_s, 1),
        dask_seconds=timings,
        speedup_2_vs_1=round(timings[workers[0]] / timings[workers[-1]], 2),
        equal_to_serial=equal,
        command=" ".join(["frycast", *sys.argv[1:]]),
        versions={
            "python": platform.python_version(),
            **{p: version(p) for p in ("prefect", "prefect-dask", "distributed", "lightgbm")},
        },
    )


def write(result: DistributedBenchmark):
    return write_results(f"distributed-{result.tier}.json", asdict(result))


def format_report(r: DistributedBenchmark) -> str:
    lines = [
        f"tier {r.tier}: {r.series} series × {r.days} days, models {', '.join(r.models)}",
        "| run | seconds |",
        "|---|---|",
        f"| serial (n_jobs=2 inside the models) | {r.serial_seconds} |",
        *(f"| Prefect + Dask, {n} worker(s) | {s} |" for n, s in r.dask_seconds.items()),
        f"speed-up 2 vs 1 worker: {r.speedup_2_vs_1}×; forecasts equal to serial: "
        f"{r.equal_to_serial}",
    ]
    return "\n".join(lines)
