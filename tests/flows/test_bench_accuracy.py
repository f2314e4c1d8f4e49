"""The accuracy benchmark's coverage per level and horizon bucket, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.accuracy import Holdout, coverage_by
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


def test_holiday_and_closed_day_mase_score_only_those_days():
    from bench.accuracy import _mase_on

    # 2 series, scale 2; 4 held-out days; day 1 a holiday, day 3 closed for series 0
    actual = np.array([[10.0, 10, 0, 10], [20, 20, 20, 20]])
    pred = np.array([[10.0, 14, 6, 10], [20, 26, 20, 20]])
    scale = np.array([2.0, 2.0])
    holiday = np.zeros((2, 4), bool)
    holiday[:, 1] = True
    closed = np.zeros((2, 4), bool)
    closed[0, 2] = True
    assert _mase_on(actual, pred, scale, holiday) == (4 / 2 + 6 / 2) / 2
    assert _mase_on(actual, pred, scale, closed) == 6 / 2  # series 1 has no closed day
    assert np.isnan(_mase_on(actual, pred, scale, np.zeros((2, 4), bool)))
