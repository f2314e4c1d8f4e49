"""Every model fits a small real panel (seeded, built by dbt, read back) and forecasts sensibly."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models import ALL_MODELS, build_model
from ml.panel import Panel


def _check(pred: np.ndarray, panel: Panel, h: int) -> None:
    assert pred.shape == (panel.n_series, h)
    assert np.isfinite(pred).all()
    assert (pred >= 0).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_each_model_fits_and_predicts_a_real_panel(tiny_panel, name):
    model = build_model(name, max_horizon=28, n_jobs=1).fit(tiny_panel)
    pred = model.predict(28)
    _check(pred, tiny_panel, 28)
    # on the scale of the series: the mean forecast is within a factor 3 of the last 8 weeks'
    recent = np.nanmean(tiny_panel.y[:, -56:], axis=1)
    busy = recent > 5
    ratio = pred[busy].mean(axis=1) / recent[busy]
    assert ((ratio > 1 / 3) & (ratio < 3)).all(), ratio.round(2).tolist()


def test_a_global_model_forecasts_a_whole_year(tiny_panel):
    pred = build_model("lightgbm", max_horizon=365, n_jobs=1).fit(tiny_panel).predict(365)
    _check(pred, tiny_panel, 365)


def test_the_yearly_seasonal_naive_repeats_last_year(tiny_panel):
    pred = build_model("snaive_yearly").fit(tiny_panel).predict(28)
    n = len(tiny_panel.dates)
    last_year = tiny_panel.y[:, n - 364 : n - 364 + 28]
    ok = ~np.isnan(last_year)
    np.testing.assert_array_equal(pred[ok], last_year[ok])


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "prophet"])
def test_fixed_seeds_give_identical_forecasts(tiny_panel, name):
    a = build_model(name, max_horizon=28, seed=3, n_jobs=1).fit(tiny_panel).predict(28)
    b = build_model(name, max_horizon=28, seed=3, n_jobs=1).fit(tiny_panel).predict(28)
    np.testing.assert_array_equal(a, b)


def test_an_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'arimax'"):
        build_model("arimax")
