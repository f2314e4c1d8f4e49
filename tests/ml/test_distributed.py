"""The distributed path: the engine's fits as Prefect tasks on a local Dask cluster
(prefect-dask) give exactly the serial result, with per-series models split over the workers and
the global model trained in partitions."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from flows.distributed import dask_mapper
from ml.backtest import series_chunks
from ml.engine import EngineConfig, run_engine

CONFIG = EngineConfig(
    horizon=28,
    folds=2,
    fold_horizon=28,
    fold_step=28,
    models=("snaive", "weekday_mean", "ets", "lightgbm"),
    n_jobs=1,
    global_partitions=2,  # LightGBM as two models, one per block of series
)


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_series_chunks_cover_every_series_once():
    chunks = series_chunks(10, 4)
    assert [len(c) for c in chunks] == [3, 3, 2, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(10))
    assert series_chunks(10, 1) == [None] and series_chunks(1, 4) == [None]


def test_fits_on_dask_equal_the_serial_run(tiny_panel):
    serial = run_engine(tiny_panel, CONFIG)
    with dask_mapper(n_workers=2) as mapper:
        spread = run_engine(tiny_panel, CONFIG, mapper=mapper, n_chunks=3)
    for name, preds in serial.backtest.predictions.items():
        np.testing.assert_allclose(spread.backtest.predictions[name], preds, rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(spread.forecasts, serial.forecasts)
    pd.testing.assert_frame_equal(spread.selection, serial.selection)
    assert set(spread.fitted) == set(serial.fitted)

    # the fits ran as Prefect task runs inside `forecast-fits` flow runs (backtest + final fit)
    api = PREFECT_API_URL.value()
    body = {"flows": {"name": {"any_": ["forecast-fits"]}}, "limit": 50, "sort": "ID_DESC"}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body).raise_for_status().json()
    assert len(runs) == 2
    assert all(r["state"]["type"] == "COMPLETED" for r in runs)
    body = {"flow_runs": {"id": {"any_": [r["id"] for r in runs]}}, "limit": 200}
    fits = httpx.post(f"{api}/task_runs/filter", json=body).raise_for_status().json()
    # 2 folds × (3 per-series models in 3 slices + lightgbm in 2 partitions) = 22 backtest
    # fits, + the final fits
    assert sum(t["name"].startswith("fit") for t in fits) >= 22
