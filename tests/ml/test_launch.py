"""Cold start (ml.models.launch): a young item is forecast from its peers and its group's launch
curve, and beats the 8-week weekday mean of its few days on the tiny warehouse's real series."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ml.models import build_model
from ml.models.launch import LaunchCurve
from tests.ml.synthetic import panel_of

H = 56


def _made_young(panel, rows, age: int):
    """The panel with ``rows`` launched ``age`` days before its last day (earlier days unknown)."""
    y = panel.y.copy()
    y[rows, : y.shape[1] - age] = np.nan
    return replace(panel, y=y)


def test_established_series_get_the_weekday_mean_exactly(tiny_panel):
    train = _made_young(tiny_panel.truncate(len(tiny_panel.dates) - 1 - H), [5], 10)
    launch = build_model("launch_curve").fit(train).predict(H)
    weekday = build_model("weekday_mean").fit(train).predict(H)
    others = [i for i in range(train.n_series) if i != 5]
    np.testing.assert_array_equal(launch[others], weekday[others])
    assert not np.allclose(launch[5], weekday[5])  # the young one is forecast differently


# measured: 0.47, 0.77, 0.91 of the weekday mean's error (the fewer the days, the bigger the gain)
@pytest.mark.parametrize(("age", "bound"), [(7, 0.6), (14, 0.85), (28, 0.97)])
def test_a_young_item_is_forecast_better_than_by_its_few_days(tiny_panel, age, bound):
    """Each item of the second restaurant that the first sells too, in turn, launched ``age``
    days before the origin: the launch curve model's 56 days ahead are closer to what the item
    then sold than the weekday mean of its ``age`` days (errors summed over the items)."""
    n = len(tiny_panel.dates)
    train = tiny_panel.truncate(n - 1 - H)
    actual = tiny_panel.y[:, n - H :]
    s = tiny_panel.series
    in_first = set(s.loc[s["restaurant_id"] == "R0001", "sku_id"])
    second = np.flatnonzero((s["restaurant_id"] == "R0002") & s["sku_id"].isin(in_first))
    assert second.size >= 3
    err = {"launch_curve": 0.0, "weekday_mean": 0.0}
    for i in second:
        young = _made_young(train, [i], age)
        for name in err:
            pred = build_model(name).fit(young).predict(H)[i]
            err[name] += float(np.nanmean(np.abs(actual[i] - pred)))
    assert err["launch_curve"] < bound * err["weekday_mean"], err


def test_the_group_launch_curve_carries_a_ramp_up_forward():
    """Ten items of one group launched on different days, each selling 2 a day in its first two
    weeks, 4 from its third week on; an eleventh launched 7 days before the origin is forecast at
    4 from its third week, where the mean of its days stays at 2."""
    n, rng = 400, np.random.default_rng(0)
    y = np.full((12, n), np.nan)
    y[0] = 10.0  # an established item (the restaurant's weekday shape: flat)
    for i, start in enumerate(rng.integers(20, 300, 10), start=1):
        age = np.arange(n - start)
        y[i, start:] = np.where(age < 14, 2.0, 4.0)
    y[11, n - 7 :] = 2.0
    panel = panel_of(y, horizon=H)
    launch = LaunchCurve().fit(panel).predict(H)[11]
    weekday = build_model("weekday_mean").fit(panel).predict(H)[11]
    np.testing.assert_allclose(weekday, 2.0)
    np.testing.assert_allclose(launch[:7], 2.0)  # its second week: still at the launch level
    np.testing.assert_allclose(launch[7:], 4.0)  # from its third week on: the group's step up
