"""The accuracy benchmark's coverage per level and horizon bucket, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.bench_accuracy import Holdout, coverage_by
from tests.ml.synthetic import panel_of


def test_coverage_is_counted_per_level_and_horizon_bucket():
    # 2 series (one restaurant, one region) held out for 40 days, each selling 10 a day
    train = panel_of(np.full((2, 60), 10.0), horizon=40)
    actual = np.full((2, 40), 10.0)
    split = Holdout(train, actual, actual, np.array(["London", "London"]))
    days = train.future_dates(40)
    rows = []
    for level, key, truth in (
        ("restaurant_sku", train.keys[0], 10),
        ("restaurant_sku", train.keys[1], 10),
        ("region", "London", 20),
        ("chain", "chain", 20),
    ):
        for d, day in enumerate(days):
            # bands hold the truth: the bottom's on days 1-28, the region's on even days
            inside = {"restaurant_sku": d < 28, "region": d % 2 == 0, "chain": False}[level]
            lo, hi = (truth - 1, truth + 1) if inside else (truth + 1, truth + 2)
            rows.append((level, key, day, lo, hi, True))
    frame = pd.DataFrame(
        rows,
        columns=["level", "node_key", "forecast_date", "yhat_lo80", "yhat_hi80", "reconciled"],
    )
    got = coverage_by(frame, True, split)
    assert got["restaurant_sku"] == {"1-28": 1.0, "29-40": 0.0}
    assert got["region"] == {"1-28": 0.5, "29-40": 0.5}
    assert got["chain"] == {"1-28": 0.0, "29-40": 0.0}
    assert coverage_by(frame, False, split) == {}  # no base rows in this frame
