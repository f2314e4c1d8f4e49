"""What the drivers cost: TreeSHAP of the served global model on a tier's whole panel.

Seeds the tier in its own database, builds it with dbt, fits LightGBM on every series as a run
does, then times ``ml.drivers.monthly_drivers`` for all of them against the prediction itself,
with the Python-side peak memory (tracemalloc) of each.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from bench.results import fresh_database, write_results
from ingest.generator import ChainSpec
from ingest.seed import seed
from ml.drivers import day_stride, monthly_drivers
from ml.models import build_model
from warehouse.dbt import run_dbt
from warehouse.panel_io import load_panel


def _measured(fn):
    tracemalloc.start()
    started = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, round(seconds, 1), round(peak / 2**20)


def run(server_url: str, tier: str = "medium", horizon: int = 365) -> dict:
    url = fresh_database(server_url, f"frycast_bench_drivers_{tier}")
    seed(url, ChainSpec.for_tier(tier))
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], url)
    if not result.success:
        raise RuntimeError("dbt build failed:\n" + "\n".join(result.failures))
    panel = load_panel(url, horizon=horizon)
    model, fit_s, _ = _measured(lambda: build_model("lightgbm", max_horizon=horizon).fit(panel))
    pred, predict_s, predict_mb = _measured(lambda: model.predict(horizon))
    rows = np.arange(panel.n_series)
    drivers, drivers_s, drivers_mb = _measured(
        lambda: monthly_drivers(model, panel, rows, horizon, pred)
    )
    out = {
        "tier": tier,
        "series": panel.n_series,
        "horizon_days": horizon,
        "day_stride": day_stride(panel.n_series * horizon),
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "predict_peak_mb": predict_mb,
        "drivers_seconds": drivers_s,
        "drivers_peak_mb": drivers_mb,
        "driver_rows": len(drivers),
    }
    write_results(f"drivers_{tier}.json", out)
    return out
