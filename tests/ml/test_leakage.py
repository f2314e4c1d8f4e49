"""No feature and no forecast may use anything after its origin.

The checks perturb everything after the origin (every sale, which days are open, and the
known-in-advance features beyond the forecast window) in two different ways and demand identical
features and forecasts. Deliberately leaky doubles — a feature that peeks past the origin and a
model that reads y at origin + h — prove each check can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.backtest import Fold, run_backtest
from ml.gbm_features import WindowSums, origin_features, training_frame
from ml.models import ALL_MODELS, build_model
from ml.models.base import Forecaster
from ml.panel import Panel
from tests.ml.neural import model_cases, params_for

EVERY_HORIZON = np.arange(1, 366)  # the last-year features switch years at h = 361 / 362


def perturbed_after(
    panel: Panel, origin: int, seed: int, keep_known_days: int = 0, keep_open: bool = False
) -> Panel:
    """``panel`` with every day after ``origin`` rewritten: sales replaced by noise, some open
    days closed and some closed days opened (unless ``keep_open``); known features after
    ``origin + keep_known_days`` (past the forecast window) scrambled too."""
    rng = np.random.default_rng(seed)
    y = panel.y.copy()
    tail = rng.poisson(40, y[:, origin + 1 :].shape).astype(float)
    tail[rng.random(tail.shape) < 0.1] = np.nan
    y[:, origin + 1 :] = tail
    cut = origin + 1 + keep_known_days
    known = {}
    for name, arr in panel.known.items():
        arr = arr.copy()
        arr[:, cut:] = rng.integers(0, 30, arr[:, cut:].shape)
        known[name] = arr
    open_ = None
    if (
        panel.open is not None and not keep_open
    ):  # which days the restaurants open, and closures scheduled ahead
        open_ = panel.open.copy()
        open_[:, origin + 1 :] = rng.integers(-1, 2, open_[:, origin + 1 :].shape)
    return replace(panel, y=y, known=known, open=open_)


# --- the features of the global models -----------------------------------------------------------


def features_change_with_future(feature_fn, panel: Panel, origin: int) -> list[str]:
    """Columns of ``feature_fn(panel, origin)`` that differ when post-origin sales change."""
    # known features are read at the target day (they are known in advance): keep them all; so
    # are the closures in the panel's history (taken as planned, ml.gbm_features.after_closure):
    # the fold's truncation hides those after its origin, checked through the models below
    a = feature_fn(perturbed_after(panel, origin, 1, 10**6, keep_open=True), origin)
    b = feature_fn(perturbed_after(panel, origin, 2, 10**6, keep_open=True), origin)
    assert list(a.columns) == list(b.columns)
    return [
        c for c in a.columns if not np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True)
    ]


def honest_features(panel: Panel, origin: int) -> pd.DataFrame:
    return origin_features(panel, WindowSums(panel.y), origin, EVERY_HORIZON)


def leaky_features(panel: Panel, origin: int) -> pd.DataFrame:
    """A classic bug: a 'recent level' centred on the origin reads 3 days past it."""
    f = honest_features(panel, origin)
    centred = np.nanmean(panel.y[:, origin - 3 : origin + 4], axis=1)
    f["level_centred_7"] = np.repeat(centred, len(EVERY_HORIZON))
    return f


def test_gbm_features_ignore_everything_after_the_origin(tiny_panel):
    n = len(tiny_panel.dates)
    # early (windows clipped at day 0), a year in, and late in the history
    for origin in (60, 400, n - 366, n - 30):
        assert features_change_with_future(honest_features, tiny_panel, origin) == []


def test_the_feature_check_catches_a_leaky_feature(tiny_panel):
    assert features_change_with_future(leaky_features, tiny_panel, 500) == ["level_centred_7"]


def test_training_rows_only_use_days_up_to_their_own_origin(tiny_panel):
    # Every training row from origin o (target day o + h) must be rebuilt identically from the
    # panel cut at o: training rows never look past their own origin, though the panel does.
    frame = training_frame(tiny_panel, 365, origin_step=28, max_rows=10**9)
    n = len(tiny_panel.dates)
    origins = np.unique(frame["_t"] - frame["horizon"]).astype(int)
    assert len(origins) > 20
    for origin in origins:
        rows = frame[frame["_t"] - frame["horizon"] == origin]
        # the target is y[o + h]; the row's weight is not a feature (it counts forecast days)
        rows = rows.drop(columns=["y", "_horizon_weight"]).reset_index(drop=True)
        cut = replace(tiny_panel, y=np.where(np.arange(n) > origin, np.nan, tiny_panel.y))
        horizons = np.unique(rows["horizon"].to_numpy().astype(int))
        again = origin_features(cut, WindowSums(cut.y), origin, horizons)
        merged = rows.merge(again, on=["_series", "_t"], suffixes=("", "_cut"))
        assert len(merged) == len(rows) > 0
        for c in rows.columns.drop(["_series", "_t"]):
            np.testing.assert_array_equal(merged[c], merged[c + "_cut"], err_msg=f"{c} @ {origin}")


def test_training_targets_are_the_sales_of_the_target_day(tiny_panel):
    frame = training_frame(tiny_panel, 365, origin_step=28, max_rows=10**9)
    expected = tiny_panel.y[frame["_series"].to_numpy(), frame["_t"].to_numpy()]
    np.testing.assert_array_equal(frame["y"].to_numpy(), expected)
    assert (frame["_t"] <= len(tiny_panel.dates) - 1).all()  # every target is in the history


# --- the models, through the backtest ------------------------------------------------------------


def backtest_forecast(
    panel: Panel, origin: int, h: int, make_model: Callable[[Panel], Forecaster]
) -> np.ndarray:
    """The h-day forecast from ``origin`` as the backtest makes it (fit on the panel cut there).

    ``make_model`` is handed the whole panel: honest models ignore it, a leaky double keeps it.
    """
    fold = Fold(0, origin, h)
    return run_backtest(panel, lambda name: make_model(panel), ["m"], [fold]).predictions["m"][0]


def forecasts_move_with_future(
    make_model: Callable[[Panel], Forecaster], panel: Panel, origin: int, h: int
) -> bool:
    """Do the forecasts from ``origin`` change when everything after it changes?"""
    a = backtest_forecast(
        perturbed_after(panel, origin, 1, keep_known_days=h), origin, h, make_model
    )
    b = backtest_forecast(
        perturbed_after(panel, origin, 2, keep_known_days=h), origin, h, make_model
    )
    assert a.shape == b.shape == (panel.n_series, h)
    return not np.array_equal(a, b)


class PeekingForecaster(Forecaster):
    """Leaky on purpose: keeps the full panel it was built with and 'forecasts' day origin + h
    with the sales of day origin + h."""

    name = "peeking"

    def __init__(self, full: Panel) -> None:
        self.full = full

    def fit(self, panel: Panel) -> PeekingForecaster:
        self.origin = len(panel.dates) - 1
        return self

    def predict(self, h: int) -> np.ndarray:
        return np.nan_to_num(self.full.y[:, self.origin + 1 : self.origin + 1 + h])


def test_the_model_check_catches_a_model_that_reads_the_future(tiny_panel):
    assert forecasts_move_with_future(PeekingForecaster, tiny_panel, 500, 28)


def test_the_model_check_passes_a_model_that_reads_only_its_history(tiny_panel):
    # the same double, reading y at the origin instead: honest, however odd
    class Last(PeekingForecaster):
        def predict(self, h: int) -> np.ndarray:
            return np.tile(np.nan_to_num(self.full.y[:, [self.origin]]), h)

    assert not forecasts_move_with_future(Last, tiny_panel, 500, 28)


@pytest.mark.parametrize("name", model_cases(ALL_MODELS))
def test_model_forecasts_do_not_move_when_the_future_changes(tiny_panel, name):
    # 500 days of history (enough for the yearly naive), 300 perturbed days after it
    def make_model(panel: Panel) -> Forecaster:
        return build_model(name, max_horizon=28, n_jobs=1, seed=1, params=params_for(name))

    assert not forecasts_move_with_future(make_model, tiny_panel, 500, 28)


def test_the_launch_curve_ignores_the_future_of_a_young_item(tiny_panel):
    # the cold-start path (peers, weekday shape, launch curve) only runs for series launched
    # shortly before the origin: one launched 20 days before it, one 3 days
    y = tiny_panel.y.copy()
    y[5, :480], y[2, :497] = np.nan, np.nan
    young = replace(tiny_panel, y=y)

    def make_model(panel: Panel) -> Forecaster:
        return build_model("launch_curve")

    assert not forecasts_move_with_future(make_model, young, 500, 28)


# --- the chance of opening, through the backtest -------------------------------------------------


def test_the_chance_of_opening_ignores_every_day_after_the_origin(tiny_panel):
    fold = Fold(0, 500, 56)

    def p_open(seed: int) -> np.ndarray:
        panel = perturbed_after(tiny_panel, 500, seed, keep_known_days=56)
        return run_backtest(panel, lambda name: build_model("snaive"), ["snaive"], [fold]).p_open

    assert tiny_panel.open is not None
    np.testing.assert_array_equal(p_open(1), p_open(2))


def test_the_opening_check_catches_a_pattern_that_reads_the_future(tiny_panel, monkeypatch):
    # a leaky double: the truncated panel forgets that its days ahead are unknown
    from ml import backtest

    real = backtest.open_probability
    monkeypatch.setattr(
        backtest, "open_probability", lambda panel, h: real(replace(panel, open_ahead=True), h)
    )
    fold = Fold(0, 500, 56)
    a, b = (
        run_backtest(
            perturbed_after(tiny_panel, 500, seed, keep_known_days=56),
            lambda name: build_model("snaive"),
            ["snaive"],
            [fold],
        ).p_open
        for seed in (1, 2)
    )
    assert not np.array_equal(a, b)


def test_horizon_weights_stand_for_every_forecast_day_of_an_origin(tiny_panel):
    # each origin's rows: weight 1 per short horizon, its long samples sharing the rest, so an
    # origin's weights add up to the horizons it could be scored on (before dropping unobserved
    # targets, which only lower the sum)
    frame = training_frame(tiny_panel, 365, origin_step=91, seed=3)
    n = len(tiny_panel.dates)
    origin = frame["_t"] - frame["horizon"]
    for o, rows in frame.groupby(origin):
        room = min(365, n - 1 - o)
        per_series = rows.groupby("_series")["_horizon_weight"].sum()
        assert (per_series <= room + 1e-9).all() and per_series.max() > 0.5 * room
        assert (rows.loc[rows["horizon"] <= 28, "_horizon_weight"] == 1.0).all()
