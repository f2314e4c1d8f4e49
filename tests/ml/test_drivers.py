"""The drivers of a global model's forecast add up, with the base, to its prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.drivers import BASE, DRIVERS, monthly_drivers
from ml.models import build_model

H = 60


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_drivers_and_base_sum_to_the_prediction_per_node_and_month(tiny_panel, name):
    model = build_model(name, max_horizon=H, n_jobs=1, seed=1).fit(tiny_panel)
    pred = model.predict(H)
    rows = np.array([0, 3, 5])
    drivers = monthly_drivers(model, tiny_panel, rows, H)
    assert set(drivers["driver"]) <= set(DRIVERS) and BASE in set(drivers["driver"])
    months = tiny_panel.all_dates[len(tiny_panel.dates) : len(tiny_panel.dates) + H]
    months = months.to_period("M").start_time
    for series in rows:
        expected = pd.Series(pred[series], index=months).groupby(level=0).sum()
        got = drivers[drivers["series"] == series].groupby("month")["units"].sum()
        np.testing.assert_allclose(
            got.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-6
        )  # XGBoost works in float32
        assert list(got.index) == list(expected.index)
    # the groups explain something: not everything is the base
    moved = drivers[drivers["driver"] != BASE]["units"].abs().sum()
    assert moved > 0.05 * drivers[drivers["driver"] == BASE]["units"].sum()


def test_sampled_days_still_add_up_and_keep_the_split(tiny_panel):
    # a budget below the panel's rows: every 3rd day explained, scaled to each month's total
    model = build_model("lightgbm", max_horizon=H, n_jobs=1, seed=1).fit(tiny_panel)
    pred = model.predict(H)
    rows = np.arange(tiny_panel.n_series)
    exact = monthly_drivers(model, tiny_panel, rows, H, pred)
    sampled = monthly_drivers(model, tiny_panel, rows, H, pred, max_rows=rows.size * H // 3)
    keys = ["series", "month", "driver"]
    both = exact.merge(sampled, on=keys, suffixes=("", "_sampled"))
    assert len(both) == len(exact) == len(sampled)
    by_month = both.groupby(["series", "month"])[["units", "units_sampled"]].sum()
    np.testing.assert_allclose(by_month["units_sampled"], by_month["units"], rtol=1e-9)
    # the base and the biggest groups come out near the exact split (a sample, not the truth)
    share = (
        both.assign(exact=both["units"].abs(), approx=both["units_sampled"].abs())
        .groupby("driver")[["exact", "approx"]]
        .sum()
    )
    share = share / share.sum()
    assert (share["approx"] - share["exact"]).abs().max() < 0.05


def test_every_model_has_a_rule_a_planner_can_read():
    from ml.models import ALL_MODELS, RULES

    assert set(ALL_MODELS) | {"combo"} == set(RULES)


def test_past_the_budget_the_biggest_nodes_are_explained(tiny_panel):
    model = build_model("lightgbm", max_horizon=H, n_jobs=1, seed=1).fit(tiny_panel)
    pred = model.predict(H)
    rows = np.arange(tiny_panel.n_series)
    # 13-day stride: 5 days per series; a budget of 10 rows holds the two biggest series
    got = monthly_drivers(model, tiny_panel, rows, H, pred, max_rows=10)
    biggest = set(np.argsort(-pred.sum(axis=1))[:2])
    assert set(got["series"]) == biggest
