"""The engine end to end on a real panel, and its parts (selection, calibration) by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.backtest import zero_share_91
from ml.engine import EngineConfig, run_engine
from ml.intervals import ConformalCalibration
from ml.metrics import seasonal_naive_scale
from ml.models import build_model
from ml.models.base import Forecaster
from ml.openness import open_probability
from ml.panel import Panel
from ml.selection import select_models
from tests.ml.synthetic import panel_of

NAN = np.nan
H = 56
CHEAP = EngineConfig(
    horizon=H,
    folds=2,
    fold_horizon=28,
    fold_step=28,
    models=("snaive", "weekday_mean", "lightgbm"),
    n_jobs=1,
)


@pytest.fixture(scope="module")
def result(tiny_panel):
    return run_engine(tiny_panel, CHEAP)


# --- run_engine on the tiny real panel -----------------------------------------------------------


def test_every_series_gets_every_day_with_ordered_quantiles(tiny_panel, result):
    f = result.forecasts
    assert len(f) == tiny_panel.n_series * H
    assert set(f["node_key"]) == set(tiny_panel.keys)
    days = pd.date_range(tiny_panel.end + pd.Timedelta(days=1), periods=H).date
    for _, g in f.groupby("node_key"):
        assert sorted(g["forecast_date"]) == list(days)
    assert (f["yhat_lo80"] <= f["yhat_q50"]).all() and (f["yhat_q50"] <= f["yhat_hi80"]).all()
    assert (f[["yhat", "yhat_lo80", "yhat_q50", "yhat_hi80"]] >= 0).all().all()
    assert f[["yhat", "yhat_lo80", "yhat_q50", "yhat_hi80"]].notna().all().all()
    # the intervals have width: the busy series' bands are not collapsed onto the forecast
    busy = f[f["yhat"] > 5]
    assert len(busy) > 0 and (busy["yhat_hi80"] > busy["yhat_lo80"]).all()


def test_each_series_is_forecast_by_its_selected_model(tiny_panel, result):
    chosen = dict(zip(result.selection["node_key"], result.selection["model"], strict=True))
    f = result.forecasts.sort_values(["node_key", "forecast_date"])
    assert (f["model"] == f["node_key"].map(chosen)).all()
    yhat = f.set_index("node_key")["yhat"]
    scale, zero = seasonal_naive_scale(tiny_panel.y), zero_share_91(tiny_panel.y)
    for name in set(chosen.values()):
        # refitted independently on the whole history: the same forecast, held in its calibrated
        # band, times the chance the restaurant opens that day
        own = build_model(name, max_horizon=H, seed=0, n_jobs=1).fit(tiny_panel).predict(H)
        point = result.calibrations[name].distribution(own, scale, zero)[0]
        point = point * open_probability(tiny_panel, H)
        for row, key in enumerate(tiny_panel.keys):
            if chosen[key] == name:
                np.testing.assert_allclose(yhat.loc[key].to_numpy(), point[row], err_msg=key)


def test_selection_is_explained(tiny_panel, result):
    s = result.selection
    assert len(s) == tiny_panel.n_series
    assert list(s["node_key"]) == tiny_panel.keys
    assert s["reason"].str.len().gt(0).all()
    assert set(s["model"]) <= set(CHEAP.models)
    for _, row in s.iterrows():
        scores = json.loads(row["scores"])
        assert set(scores) == set(CHEAP.models)  # every series here has backtest actuals
        assert scores[row["model"]] == pytest.approx(row["score"], abs=1e-4)
        # the runner-up is the best of the models not chosen
        others = {m: v for m, v in scores.items() if m != row["model"]}
        assert row["runner_up"] == min(others, key=others.get)
        assert row["runner_up_score"] == pytest.approx(others[row["runner_up"]], abs=1e-4)
    # the scores are the series' mean backtest MASE over the folds
    bottom = result.metrics[result.metrics["level"] == "restaurant_sku"]
    mean_mase = bottom.groupby(["node_key", "model"])["mase"].mean()
    for _, row in s.iterrows():
        for m, v in json.loads(row["scores"]).items():
            assert mean_mase[(row["node_key"], m)] == pytest.approx(v, abs=1e-4)


def test_bottom_metrics_are_each_series_own_scores(tiny_panel, result):
    m = result.metrics
    bottom = m[(m["level"] == "restaurant_sku") & (m["model"] != "selected")]
    # series × folds × models (the new-series model is always backtested: it needs a calibration)
    assert set(bottom["model"]) == {*CHEAP.models, "launch_curve"}
    assert len(bottom) == tiny_panel.n_series * 2 * 4
    assert set(m["level"]) == {"restaurant_sku", "chain", "region", "restaurant", "product_group"}
    # bands are scored on the folds with earlier data to calibrate on (the oldest has none)
    scored = bottom["fold"] == result.backtest.folds[0].index
    assert bottom.loc[scored, "coverage_80"].between(0, 1).all()
    assert bottom.loc[~scored, ["coverage_80", "wql"]].isna().all().all()
    assert bottom["n_obs"].between(1, 28).all()
    bt = result.backtest
    rows = bottom.set_index(["node_key", "model", "fold"])
    for i, fold in enumerate(bt.folds):
        assert (
            bottom.loc[bottom["fold"] == fold.index, "origin"]
            == tiny_panel.dates[fold.origin].date()
        ).all()
        for s, key in enumerate(tiny_panel.keys):
            y = tiny_panel.y[s]
            train = y[: fold.origin + 1]
            scale = np.nanmean(np.abs(train[7:] - train[:-7]))
            # scored on every day: a closed day is 0 units, the forecast times P(open)
            test = slice(fold.origin + 1, fold.origin + 29)
            actual = np.where(tiny_panel.open[s, test] == 0, 0.0, y[test])
            obs = ~np.isnan(actual)
            p = open_probability(tiny_panel.truncate(fold.origin), 28)[s]
            for name in CHEAP.models:
                pred = bt.predictions[name][i, s] * p
                expected = np.abs(actual[obs] - pred[obs]).mean() / scale
                row = rows.loc[(key, name, fold.index)]
                assert row["mase"] == pytest.approx(expected), (key, name, fold.index)
                assert row["n_obs"] == obs.sum()


def test_chain_metrics_score_the_sum_of_the_series(tiny_panel, result):
    bt = result.backtest
    chain = result.metrics[result.metrics["level"] == "chain"].set_index(["model", "fold"])
    open_any = (~np.isnan(tiny_panel.y)).any(axis=0)
    total = np.where(open_any, np.nansum(tiny_panel.y, axis=0), NAN)  # the chain's daily sales
    closed = (tiny_panel.open[:, : len(tiny_panel.dates)] == 0).all(axis=0)
    for i, fold in enumerate(bt.folds):
        train = total[: fold.origin + 1]
        scale = np.nanmean(np.abs(train[7:] - train[:-7]))
        actual = np.where(closed, 0.0, total)[fold.origin + 1 : fold.origin + 29]
        p = open_probability(tiny_panel.truncate(fold.origin), 28)
        for name in CHEAP.models:
            pred = (np.nan_to_num(bt.predictions[name][i]) * p).sum(axis=0)
            expected = np.nanmean(np.abs(actual - pred)) / scale
            assert chain.loc[(name, fold.index), "mase"] == pytest.approx(expected)


def test_summary_names_the_models(result):
    assert result.summary["default_model"] in CHEAP.models
    assert sum(result.summary["models_chosen"].values()) == len(result.selection)
    assert set(result.summary["per_model"]) == {*CHEAP.models, "launch_curve"}
    assert "lightgbm" in result.fitted  # the best global model is always refitted


class Clairvoyant(Forecaster):
    """A model double for the engine's wiring: during the backtest it forecasts the held-out
    actuals exactly for ``rows`` (and 10 too many elsewhere); past the history, where there is
    nothing to copy, it forecasts ``marker`` for every day."""

    def __init__(self, full: Panel, rows: np.ndarray, marker: float) -> None:
        self.full, self.rows, self.marker = full, rows, marker

    def fit(self, panel: Panel) -> Clairvoyant:
        self.origin = len(panel.dates) - 1
        return self

    def predict(self, h: int) -> np.ndarray:
        out = np.full((self.full.n_series, h), self.marker)
        ahead = np.nan_to_num(self.full.y[:, self.origin + 1 : self.origin + 1 + h])
        ahead[~self.rows] += 10
        out[:, : ahead.shape[1]] = ahead
        return out


def test_each_series_gets_the_model_that_wins_it_and_that_model_forecasts_it(tiny_panel):
    # GIVEN two models, each exact on half the series and 10 units off on the other half
    # (wiring only: without open/closed days, so an exact model scores 0 on every day)
    tiny_panel = replace(tiny_panel, open=None)
    even = np.arange(tiny_panel.n_series) % 2 == 0
    models = {"even": (even, 1.0), "odd": (~even, 2.0)}
    config = EngineConfig(horizon=14, folds=2, fold_horizon=14, models=tuple(models), n_jobs=1)
    # WHEN the engine may switch series that win every fold by 10% or more
    result = run_engine(
        tiny_panel,
        replace(config, series_margin=0.1),
        # (the engine also backtests the fallback for new series: a real model)
        lambda name: (
            Clairvoyant(tiny_panel, *models[name]) if name in models else build_model(name)
        ),
    )
    # THEN every series takes the model exact on it, with a backtest MASE of 0
    sel = result.selection
    assert list(sel["model"]) == ["even" if e else "odd" for e in even]
    np.testing.assert_allclose(sel["score"].astype(float), 0.0)
    # and is forecast by that model (1.0 from "even", 2.0 from "odd" beyond the history)
    f = result.forecasts
    expected = np.where(even, 1.0, 2.0)[
        f["node_key"].map({k: i for i, k in enumerate(tiny_panel.keys)})
    ]
    np.testing.assert_array_equal(f["yhat"].to_numpy(), expected)
    # the run's claim for its served forecast is fold 0 scored with the choices fold 1 alone
    # made: one fold cannot show a series winning "every fold", so there no series switched
    claimed = result.summary["selected"]
    assert claimed["n_series_unscored"] == 0 and claimed["n_series_scored"] == tiny_panel.n_series
    rows = result.metrics[result.metrics["model"] == "selected"]
    assert rows.loc[rows["fold"] == 1, "mase"].isna().all()  # the oldest fold only calibrates
    assert claimed["mase"] == pytest.approx(rows.loc[rows["fold"] == 0, "mase"].mean())
    assert claimed["mase"] > 0.1
    # (the fallback is always fitted too: it serves any series its chosen model fails)
    assert set(result.fitted) == {"even", "odd", "weekday_mean"}


@pytest.fixture(scope="module")
def with_new_item(tiny_panel) -> Panel:
    """The tiny panel with its last series launched 10 days before the end of the history:
    no backtest fold has actuals for it (and it has no training data at the fold origins)."""
    y = tiny_panel.y.copy()
    y[-1, :-10] = NAN
    return replace(tiny_panel, y=y)


def _assert_new_item_gets_the_fallback(panel: Panel, result, fallback: str) -> None:
    new = result.selection.iloc[-1]
    assert new["model"] == fallback and "fallback" in new["reason"]
    f = result.forecasts[result.forecasts["node_key"] == panel.keys[-1]]
    assert len(f) == 28 and (f["model"] == fallback).all()
    bands = f[["yhat_lo80", "yhat_q50", "yhat_hi80"]]
    assert bands.notna().all().all()
    assert (f["yhat_lo80"] <= f["yhat_q50"]).all() and (f["yhat_q50"] <= f["yhat_hi80"]).all()
    own = build_model(fallback).fit(panel).predict(28)[-1:]
    point = result.calibrations[fallback].distribution(
        own, seasonal_naive_scale(panel.y[-1:]), zero_share_91(panel.y[-1:])
    )[0]
    p = open_probability(panel, 28)[-1]
    np.testing.assert_allclose(f["yhat"].to_numpy(), point[0] * p)


def test_a_new_item_gets_the_fallback_forecast(with_new_item):
    config = EngineConfig(
        horizon=28, folds=2, fold_horizon=28, fold_step=28, models=("snaive", "weekday_mean")
    )
    result = run_engine(with_new_item, config)
    _assert_new_item_gets_the_fallback(with_new_item, result, "launch_curve")


# a bug found here (KeyError: 'weekday_mean'): the fallback was not backtested, so it had no
# calibration when it was not in config.models
def test_a_new_item_gets_the_fallback_even_when_it_is_not_among_the_models(with_new_item):
    # e.g. `frycast forecast --models snaive,lightgbm` on a warehouse with a newly launched item
    config = EngineConfig(
        horizon=28, folds=2, fold_horizon=28, fold_step=28, models=("snaive", "snaive_yearly")
    )
    result = run_engine(with_new_item, config)
    _assert_new_item_gets_the_fallback(with_new_item, result, "launch_curve")


# --- select_models by hand -----------------------------------------------------------------------


def _mase(*per_series: list[float]) -> np.ndarray:
    """(fold, series) from each series' per-fold scores."""
    return np.array(per_series, dtype=float).T


SEGMENTS = np.array(["smooth", "smooth", "intermittent", "intermittent", "intermittent"])
# 2 folds × 5 series; series 4 is new (no backtest actuals, so no scores)
BY_SEGMENT = {
    "A": _mase([0.5, 0.5], [0.6, 0.6], [1.0, 1.0], [1.2, 1.2], [NAN, NAN]),
    "B": _mase([0.8, 0.8], [0.9, 0.9], [0.7, 0.7], [0.8, 0.8], [NAN, NAN]),
    "C": _mase([0.9, 0.9], [1.0, 1.0], [0.9, 0.9], [1.0, 1.0], [NAN, NAN]),
}


def test_each_big_enough_segment_takes_its_own_best_model():
    sel = select_models(BY_SEGMENT, segments=SEGMENTS, min_segment_series=2, fallback="snaive")
    # smooth: A 0.55 < B 0.85 < C 0.95; intermittent (2 scored): B 0.75 < C 0.95 < A 1.1
    assert sel.attrs["segment_models"] == {"smooth": "A", "intermittent": "B"}
    assert list(sel["model"]) == ["A", "A", "B", "B", "snaive"]
    assert list(sel["segment"]) == list(SEGMENTS)
    # runner-up: the best other model on the series itself
    assert list(sel["runner_up"][:4]) == ["B", "B", "C", "C"]
    assert sel["score"][0] == pytest.approx(0.5) and sel["runner_up_score"][2] == pytest.approx(0.9)
    # panel-wide over the 8 scored (fold, series): A 0.825, B 0.8, C 0.95
    assert sel.attrs["default_model"] == "B"
    assert sel.attrs["panel_scores"] == pytest.approx({"A": 0.825, "B": 0.8, "C": 0.95})


def test_series_without_scores_get_the_fallback():
    sel = select_models(BY_SEGMENT, segments=SEGMENTS, min_segment_series=2, fallback="snaive")
    new = sel.iloc[4]
    assert new["model"] == "snaive" and "fallback" in new["reason"]
    assert new["score"] is None or np.isnan(new["score"])
    assert new["runner_up"] is None
    assert json.loads(new["scores"]) == {}


def test_too_small_segments_take_the_panel_wide_best():
    sel = select_models(BY_SEGMENT, segments=SEGMENTS, min_segment_series=3)
    assert sel.attrs["segment_models"] == {"smooth": "B", "intermittent": "B"}
    assert list(sel["model"][:4]) == ["B"] * 4
    assert sel["runner_up"][0] == "A"  # A is better on series 0, but one series is not enough
    assert sel["model"][4] == "weekday_mean"  # select_models' default fallback


def test_a_series_switches_only_when_it_wins_every_fold_by_the_margin():
    # one segment, where A is best overall (A 0.84 vs B 1.59 over the finite (fold, series))
    scores = {
        "A": _mase([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.2, 0.2], [1.0, 1.0]),
        "B": _mase([0.5, 0.6], [0.3, 1.1], [0.9, 0.85], [5.0, 5.0], [0.1, NAN]),
    }
    # series 0: B wins both folds, mean 0.55 < 0.8 · 1.0                       -> switches to B
    # series 1: B mean 0.7 is better, but loses fold 1 (1.1 > 1.0)             -> stays on A
    # series 2: B wins both folds, but mean 0.875 is within 20% of A's 1.0    -> stays on A
    # series 3: A is its own best                                              -> A
    # series 4: B wins the only fold it has; one fold is not "every fold"      -> stays on A
    sel = select_models(scores, series_margin=0.2, min_segment_series=1)
    assert sel.attrs["segment_models"] == {"all": "A"}
    assert list(sel["model"]) == ["B", "A", "A", "A", "A"]
    assert sel["runner_up"][0] == "A"
    # without a margin series never leave their segment's model
    assert list(select_models(scores, min_segment_series=1)["model"]) == ["A"] * 5


def test_a_series_the_segment_model_cannot_score_takes_its_own_best():
    scores = {
        "A": _mase([0.5, 0.5], [0.5, 0.5], [NAN, NAN]),
        "B": _mase([0.9, 0.9], [0.9, 0.9], [0.8, 0.7]),
        "C": _mase([1.0, 1.0], [1.0, 1.0], [0.6, 0.6]),
    }
    sel = select_models(scores, min_segment_series=1)
    assert sel.attrs["segment_models"] == {"all": "A"}
    # series 2 has no A score: its own best (C 0.6 < B 0.75), not the fallback
    assert list(sel["model"]) == ["A", "A", "C"]
    assert sel["runner_up"][2] == "B"


# --- the conformal calibration by hand -----------------------------------------------------------


@pytest.fixture
def two_class_calibration() -> ConformalCalibration:
    # one fold, 10 days, forecast 10 throughout
    # series 0 (smooth, scale 1): actuals 6..15, residuals -4..5
    # series 1 (intermittent: half its days zero, scale 2): actuals 10 + 2·(0..9), scaled 0..9
    actuals = np.array([[np.arange(6.0, 16.0), 10 + 2 * np.arange(10.0)]])
    preds = np.full((1, 2, 10), 10.0)
    return ConformalCalibration.fit(actuals, preds, np.array([[1.0, 2.0]]), np.array([[0.0, 0.5]]))


def test_conformal_quantiles_per_bucket_and_class(two_class_calibration):
    table = two_class_calibration.table.set_index(["horizon_bucket", "volume_class"])
    # numpy's linear interpolation: the q-quantile of n sorted values sits at position q·(n-1)
    # smooth, days 1-7: -4..2 -> q10 at 0.6 = -3.4, q50 = -1, q90 at 5.4 = 1.4
    # smooth, days 8-10: 3, 4, 5 -> q10 at 0.2 = 3.2, q50 = 4, q90 at 1.8 = 4.8
    # intermittent, days 1-7: 0..6 -> 0.6, 3, 5.4; days 8-10: 7, 8, 9 -> 7.2, 8, 8.8
    expected = {
        ("1-7", "smooth"): (-3.4, -1.0, 1.4, 7),
        ("8-28", "smooth"): (3.2, 4.0, 4.8, 3),
        ("1-7", "intermittent"): (0.6, 3.0, 5.4, 7),
        ("8-28", "intermittent"): (7.2, 8.0, 8.8, 3),
    }
    assert set(table.index) == set(expected)
    for key, (q10, q50, q90, n) in expected.items():
        row = table.loc[key]
        assert (row["q10"], row["q50"], row["q90"]) == pytest.approx((q10, q50, q90)), key
        assert row["n"] == n


def test_conformal_intervals_scale_by_series_and_reuse_the_last_bucket(two_class_calibration):
    # 30 days ahead of a forecast of 20: days 29-30 have no bucket of their own -> 8-28's
    yhat = np.full((2, 30), 20.0)
    # series 0 smooth with scale 2; series 1 intermittent with scale 0.05, floored to 0.1
    lo, mid, hi = two_class_calibration.quantiles(yhat, np.array([2.0, 0.05]), np.array([0, 0.9]))
    near, far = slice(0, 7), slice(7, 30)
    np.testing.assert_allclose(lo[0, near], 20 - 3.4 * 2)
    np.testing.assert_allclose(mid[0, near], 20 - 1.0 * 2)
    np.testing.assert_allclose(hi[0, near], 20 + 1.4 * 2)
    np.testing.assert_allclose(lo[0, far], 20 + 3.2 * 2)
    np.testing.assert_allclose(hi[0, far], 20 + 4.8 * 2)
    np.testing.assert_allclose(lo[1, near], 20 + 0.6 * 0.1)
    np.testing.assert_allclose(hi[1, far], 20 + 8.8 * 0.1)


def test_conformal_intervals_are_floored_at_zero(two_class_calibration):
    # smooth days 1-7 from a forecast of 1 with scale 2: 1 - 6.8 and 1 - 2 -> 0; 1 + 2.8 = 3.8
    lo, mid, hi = two_class_calibration.quantiles(np.ones((1, 3)), np.array([2.0]), np.zeros(1))
    np.testing.assert_allclose(lo, 0.0)
    np.testing.assert_allclose(mid, 0.0)
    np.testing.assert_allclose(hi, 3.8)


def test_a_class_without_residuals_borrows_the_other(two_class_calibration):
    smooth_only = ConformalCalibration(
        two_class_calibration.table[two_class_calibration.table["volume_class"] == "smooth"]
    )
    # an intermittent series gets the smooth quantiles (-3.4, -1, 1.4 on days 1-7)
    lo, mid, hi = smooth_only.quantiles(np.full((1, 2), 20.0), np.ones(1), np.array([0.9]))
    np.testing.assert_allclose([lo[0, 0], mid[0, 0], hi[0, 0]], [16.6, 19.0, 21.4])


@pytest.mark.parametrize("horizon", [400, 730])
def test_horizons_past_a_year_get_valid_quantiles_on_every_day(tiny_panel, horizon):
    # a 28-day backtest and a horizon past the last bucket's start: every day of every series
    # has finite, ordered, non-negative quantiles (days past 366 were uninitialised memory)
    config = replace(CHEAP, horizon=horizon, models=("snaive", "weekday_mean"))
    # (without open/closed days: a weekday's chance of opening would reshape its band)
    f = run_engine(replace(tiny_panel, open=None), config).forecasts
    assert len(f) == tiny_panel.n_series * horizon
    q = f[["yhat_lo80", "yhat_q50", "yhat_hi80"]]
    assert q.notna().all().all() and (q >= 0).all().all()
    assert (f["yhat_lo80"] <= f["yhat_q50"]).all() and (f["yhat_q50"] <= f["yhat_hi80"]).all()
    assert ((f["yhat_lo80"] <= f["yhat"]) & (f["yhat"] <= f["yhat_hi80"])).all()
    # the last day takes the open-ended bucket's residuals, as day 300 does (where not floored)
    last = f.groupby("node_key").tail(1).set_index("node_key")
    day_300 = f[f["forecast_date"] == sorted(f["forecast_date"].unique())[299]]
    day_300 = day_300.set_index("node_key")
    up = (last["yhat_q50"] > 0) & (day_300["yhat_q50"] > 0)
    assert up.sum() >= 3
    pd.testing.assert_series_equal(
        (last["yhat_hi80"] - last["yhat_q50"])[up].sort_index(),
        (day_300["yhat_hi80"] - day_300["yhat_q50"])[up].sort_index(),
        check_names=False,
    )


def test_series_a_model_cannot_fit_are_counted_and_served_by_the_fallback():
    # GIVEN 12 series with 70 days of history and 3 that started 10 days ago: AutoETS cannot fit
    # those 3 (too short) in any fold or in the final fit
    from tests.ml.synthetic import panel_of

    rng = np.random.default_rng(8)
    y = rng.poisson(6, (15, 70)).astype(float)
    y[12:, :60] = np.nan
    panel = panel_of(y, horizon=14)
    config = EngineConfig(
        horizon=14, folds=2, fold_horizon=7, fold_step=7, models=("ets",), combo=False, n_jobs=1
    )
    result = run_engine(panel, config)
    fallbacks = result.summary["fallbacks"]["ets"]
    # THEN each failed fit is counted with its reason, backtest and final alike
    assert fallbacks["backtest"] == {"history too short": 6}  # 3 series x 2 folds
    assert fallbacks["final"] == {"history too short": 3}
    assert fallbacks["failed_share"] == pytest.approx(6 / 30)
    # AND the 3 series (new: no backtest score) are served (and labelled) by the new series'
    # model, never by a stand-in "ets"
    sel = result.selection
    assert list(sel.loc[12:, "model"]) == ["launch_curve"] * 3
    assert list(sel.loc[:11, "model"]) == ["ets"] * 12
    assert result.forecasts[["yhat", "yhat_lo80", "yhat_hi80"]].notna().all().all()
    ets_scores = result.metrics[(result.metrics["model"] == "ets") & result.metrics["node_key"]
                                .isin(panel.keys[12:])]  # fmt: skip
    assert ets_scores["mase"].isna().all()  # no score made up for a fit that did not happen


def test_a_model_that_fails_on_too_many_series_does_not_compete():
    from tests.ml.synthetic import panel_of

    rng = np.random.default_rng(9)
    y = rng.poisson(6, (10, 70)).astype(float)
    y[3:, :60] = np.nan  # 7 of 10 series too short for AutoETS
    config = EngineConfig(
        horizon=14, folds=2, fold_horizon=7, fold_step=7, models=("ets", "snaive"), combo=False,
        n_jobs=1,
    )  # fmt: skip
    result = run_engine(panel_of(y, horizon=14), config)
    assert result.summary["fallbacks"]["ets"]["excluded_from_selection"] is True
    assert "ets" not in set(result.selection["model"])


def test_when_every_model_asked_for_fails_too_often_the_fallback_serves_under_its_name():
    # a bug found by the accuracy bench (AutoETS alone on London at 365 days): with no model
    # left to compete, selection crashed with a bare StopIteration
    from tests.ml.synthetic import panel_of

    rng = np.random.default_rng(9)
    y = rng.poisson(6, (10, 70)).astype(float)
    y[3:, :60] = np.nan  # 7 of 10 series too short for AutoETS
    config = EngineConfig(
        horizon=14, folds=2, fold_horizon=7, fold_step=7, models=("ets",), combo=False, n_jobs=1
    )
    result = run_engine(panel_of(y, horizon=14), config)
    assert result.summary["fallbacks"]["ets"]["excluded_from_selection"] is True
    assert set(result.selection["model"]) <= {"weekday_mean", "launch_curve"}
    assert result.forecasts[["yhat", "yhat_lo80", "yhat_hi80"]].notna().all().all()


def test_a_run_says_how_many_folds_it_used_and_why():
    from tests.ml.synthetic import panel_of

    y = np.random.default_rng(2).poisson(6, (4, 70)).astype(float)
    config = EngineConfig(
        horizon=7, folds=5, fold_horizon=7, fold_step=7, models=("snaive",), combo=False, n_jobs=1
    )
    folds = run_engine(panel_of(y, horizon=7), config).summary["folds_used"]
    assert (folds["asked"], folds["used"]) == (5, 2)
    assert folds["why"] == "70 days of history hold 2 fold(s) of 7 days after 56 training days"


def test_new_series_served_by_the_fallback_get_bands_from_every_series():
    # GIVEN 3 established series and 3 that began 16 days before the end (a new restaurant):
    # at the older folds' origins they have no scale, so no residual to calibrate on
    rng = np.random.default_rng(4)
    y = rng.poisson(30, (6, 200)).astype(float)
    y[3:, :184] = NAN
    # (the established ones take the seasonal naive; the new ones the fallback)
    config = EngineConfig(horizon=14, folds=3, fold_horizon=14, models=("snaive",), n_jobs=1)
    result = run_engine(panel_of(y, horizon=14), config)
    # THEN the fold the protocol scores serves them the fallback with a real band (it used to
    # calibrate the fallback on those 3 series alone: an empty table, NaN, scored as 0 units
    # after reconciliation)
    point, lo, med, hi = result.served_backtest
    sel = result.nested[0][0]
    assert (sel["model"].iloc[:3] == "snaive").all()
    assert (sel["model"].iloc[3:] == "launch_curve").all()
    for a in (point, lo, med, hi):
        assert np.isfinite(a[0, 3:]).all()
    assert (hi[0, 3:] > lo[0, 3:]).all()
