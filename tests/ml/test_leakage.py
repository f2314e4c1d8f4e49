"""No feature and no forecast may use anything after its origin.

The check perturbs every sales value after the origin and demands identical features and
forecasts. A deliberately leaky feature builder proves the check can fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.backtest import make_folds, run_backtest
from ml.gbm_features import WindowSums, origin_features, training_frame
from ml.models import build_model
from ml.panel import Panel

HORIZONS = np.array([1, 2, 7, 28, 90, 200, 364])


def perturbed_after(panel: Panel, origin: int, seed: int) -> Panel:
    """The same panel with every observed sale after ``origin`` replaced by noise."""
    rng = np.random.default_rng(seed)
    y = panel.y.copy()
    tail = y[:, origin + 1 :]
    y[:, origin + 1 :] = np.where(np.isnan(tail), np.nan, rng.poisson(50, tail.shape))
    return replace(panel, y=y)


def features_change_with_future(feature_fn, panel: Panel, origin: int) -> list[str]:
    """Columns of ``feature_fn(panel, origin)`` that differ when post-origin sales change."""
    a = feature_fn(perturbed_after(panel, origin, 1), origin)
    b = feature_fn(perturbed_after(panel, origin, 2), origin)
    return [
        c for c in a.columns if not np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True)
    ]


def honest_features(panel: Panel, origin: int) -> pd.DataFrame:
    return origin_features(panel, WindowSums(panel.y), origin, HORIZONS)


def leaky_features(panel: Panel, origin: int) -> pd.DataFrame:
    """A classic bug: a 'recent level' centred on the origin reads 3 days past it."""
    f = honest_features(panel, origin)
    f["level_centred_7"] = np.repeat(np.nanmean(panel.y[:, origin - 3 : origin + 4], axis=1), 7)
    return f


def test_gbm_features_ignore_everything_after_the_origin(tiny_panel):
    n = len(tiny_panel.dates)
    for origin in (400, n - 366, n - 30):
        assert features_change_with_future(honest_features, tiny_panel, origin) == []


def test_the_check_catches_a_leaky_feature(tiny_panel):
    assert features_change_with_future(leaky_features, tiny_panel, 500) == ["level_centred_7"]


def test_training_rows_only_use_days_before_their_target(tiny_panel):
    # Every training row at origin o must be rebuilt identically from the panel cut at o.
    frame = training_frame(tiny_panel, 365, origin_step=56, max_rows=10**9)
    n = len(tiny_panel.dates)
    for origin in (n - 2 - 56 * 3, n - 2 - 56 * 8):
        target_day = frame["_t"] - frame["horizon"]
        rows = frame[target_day == origin].drop(columns=["y"]).reset_index(drop=True)
        cut = replace(tiny_panel, y=np.where(np.arange(n) > origin, np.nan, tiny_panel.y))
        horizons = np.unique(rows["horizon"].to_numpy().astype(int))
        again = origin_features(cut, WindowSums(cut.y), origin, horizons)
        merged = rows.merge(again, on=["_series", "_t"], suffixes=("", "_cut"))
        assert len(merged) == len(rows) > 0
        for c in rows.columns.drop(["_series", "_t"]):
            np.testing.assert_array_equal(merged[c], merged[c + "_cut"], err_msg=c)


@pytest.mark.parametrize("name", ["snaive_yearly", "weekday_mean", "ets", "lightgbm", "xgboost"])
def test_backtest_forecasts_do_not_move_when_the_future_changes(tiny_panel, name):
    folds = make_folds(len(tiny_panel.dates), 2, 28, step=28)
    factory = lambda m: build_model(m, max_horizon=28, n_jobs=1)  # noqa: E731
    origin = folds[0].origin  # every fold's origin is at or before this one
    a = run_backtest(perturbed_after(tiny_panel, origin, 1), factory, [name], folds)
    b = run_backtest(perturbed_after(tiny_panel, origin, 2), factory, [name], folds)
    np.testing.assert_array_equal(a.predictions[name], b.predictions[name])
    assert not np.array_equal(a.actuals, b.actuals, equal_nan=True)  # the future did change
