"""Small hand-made panels, for tests whose expected numbers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.panel import Panel


def panel_of(y: np.ndarray, *, start: str = "2024-01-01", horizon: int = 28) -> Panel:
    """A panel of the series in the rows of ``y`` (one restaurant, no holidays or promotions)."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n_s, n = y.shape
    dates = pd.date_range(start, periods=n, freq="D")
    all_dates = pd.date_range(start, periods=n + horizon, freq="D")
    series = pd.DataFrame(
        {
            "restaurant_id": "R0001",
            "sku_id": [f"S{i + 1:04d}" for i in range(n_s)],
            "region": "London",
            "product_group": "burgers",
            "product_group_code": 0,
            "region_code": 0,
        }
    )
    per_day = lambda v: np.tile(np.asarray(v, dtype=float), (n_s, 1))  # noqa: E731
    known = {
        "day_of_week": per_day(all_dates.dayofweek),
        "is_weekend": per_day(all_dates.dayofweek >= 5),
        "is_holiday": per_day(np.zeros(len(all_dates))),
        "discount_pct": per_day(np.zeros(len(all_dates))),
    }
    return Panel(series=series, dates=dates, y=y, all_dates=all_dates, known=known)
