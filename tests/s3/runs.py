"""Small forecasting runs written through warehouse.forecast_store, as the engine writes them."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd

from warehouse.forecast_store import (
    CALIBRATION_COLUMNS,
    METRIC_COLUMNS,
    SELECTION_COLUMNS,
    finish_run,
    open_run,
    write_results,
)

HISTORY_END = date(2024, 12, 31)
DAYS = 120
# node: level, node_key, restaurant_id, sku_id, product_group, region
NODES = [
    ("chain", "chain", None, None, None, None),
    ("region", "London", None, None, None, "London"),
    ("restaurant", "R0001", "R0001", None, None, "London"),
    ("restaurant_sku", "R0001/S0001", "R0001", "S0001", "burgers", "London"),
    ("restaurant_sku", "R0001/S0002", "R0001", "S0002", 'wraps, "hot"', "London"),
]


def write_run(url: str, reconciler: str, seed: int) -> int:
    """A forecasting run written and finished through warehouse.forecast_store (as the engine
    does), with base and reconciled rows of every node, NULL ids above the bottom level and
    awkward text. (Intervals are never NULL: the store refuses a forecast with a missing one.)"""
    rng = np.random.default_rng(seed)
    days = pd.date_range(HISTORY_END, periods=DAYS + 1)[1:]
    rows = []
    for reconciled in (False, True) if reconciler != "none" else (False,):
        for level, key, restaurant, sku, group, region in NODES:
            yhat = rng.gamma(2.0, 10.0, DAYS)  # full-precision doubles
            lo = yhat * rng.uniform(0.5, 0.9, DAYS)
            rows.append(
                pd.DataFrame(
                    {
                        "level": level,
                        "node_key": key,
                        "restaurant_id": restaurant,
                        "sku_id": sku,
                        "product_group": group,
                        "region": region,
                        "forecast_date": days.date,
                        "yhat": yhat,
                        "yhat_q50": yhat,
                        "yhat_lo80": lo,
                        "yhat_hi80": yhat * 1.2,
                        "model": "ets" if level == "restaurant_sku" else "theta",
                        "reconciled": reconciled,
                    }
                )
            )
    result = SimpleNamespace(
        forecasts=pd.concat(rows, ignore_index=True),
        metrics=pd.DataFrame(columns=METRIC_COLUMNS[1:]),
        selection=pd.DataFrame(columns=SELECTION_COLUMNS[1:]),
        calibration=pd.DataFrame(columns=CALIBRATION_COLUMNS[1:]),
    )
    run_id = open_run(url, DAYS, {"reconciler": reconciler})
    write_results(url, run_id, result)
    finish_run(url, run_id, status="succeeded", history_end=HISTORY_END)
    return run_id
