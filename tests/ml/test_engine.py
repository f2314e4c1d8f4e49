"""The engine end to end on a real panel, and its parts (selection, calibration) by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.engine import EngineConfig, run_engine
from ml.intervals import ConformalCalibration
from ml.selection import select_models

CHEAP = EngineConfig(
    horizon=56,
    folds=2,
    fold_horizon=28,
    fold_step=28,
    models=("snaive", "weekday_mean", "lightgbm"),
    n_jobs=1,
)


@pytest.fixture(scope="module")
def result(tiny_panel):
    return run_engine(tiny_panel, CHEAP)


def test_every_series_gets_every_day_with_ordered_quantiles(tiny_panel, result):
    f = result.forecasts
    assert len(f) == tiny_panel.n_series * 56
    assert f.groupby("node_key")["forecast_date"].nunique().eq(56).all()
    assert f["forecast_date"].min() == (tiny_panel.end + pd.Timedelta(days=1)).date()
    assert (f["yhat_lo80"] <= f["yhat_q50"]).all() and (f["yhat_q50"] <= f["yhat_hi80"]).all()
    assert (f["yhat_lo80"] >= 0).all() and f[["yhat", "yhat_hi80"]].notna().all().all()


def test_metrics_cover_every_series_model_and_fold(tiny_panel, result):
    m = result.metrics
    bottom = m[m["level"] == "restaurant_sku"]
    assert len(bottom) == tiny_panel.n_series * 2 * 3  # series × folds × models
    assert set(m["level"]) == {"restaurant_sku", "chain", "region", "restaurant", "product_group"}
    assert bottom["coverage_80"].between(0, 1).all()


def test_selection_is_explained(tiny_panel, result):
    s = result.selection
    assert len(s) == tiny_panel.n_series
    assert s["reason"].str.len().gt(0).all()
    scored = s[s["score"].notna()]
    for _, row in scored.iterrows():
        scores = json.loads(row["scores"])
        assert scores[row["model"]] == pytest.approx(row["score"], abs=1e-4)
        if row["runner_up"]:
            assert row["runner_up"] != row["model"]


def test_selection_per_segment_and_fallback_by_hand():
    # 12 smooth series where B beats A, one intermittent where A is best, one with no scores
    a = np.array([[1.0] * 12 + [0.5, np.nan]] * 2)
    b = np.array([[0.8] * 12 + [0.9, np.nan]] * 2)
    segments = np.array(["smooth"] * 12 + ["intermittent", "smooth"])
    sel = select_models({"A": a, "B": b}, segments=segments, min_segment_series=10)
    assert sel.attrs["segment_models"] == {"smooth": "B", "intermittent": "B"}
    assert list(sel["model"][:12]) == ["B"] * 12
    # the intermittent segment has 1 scored series: it takes the panel-wide best (B), even though
    # A is better on that one series: per-series wins over 2 folds are not trusted by default
    assert sel["model"][12] == "B" and sel["runner_up"][12] == "A"
    assert sel["model"][13] == "weekday_mean" and "fallback" in sel["reason"][13]
    # with a margin, a series that wins every fold by more than it switches
    sel = select_models({"A": a, "B": b}, segments=segments, series_margin=0.2)
    assert sel["model"][12] == "A" and "every fold" in sel["reason"][12]


def test_conformal_quantiles_by_hand():
    # one fold, one smooth series, 10 days: residuals y - ŷ = -4..5, scale 1
    actuals = (np.arange(10, dtype=float) + 6)[None, None, :]
    preds = np.full((1, 1, 10), 10.0)
    cal = ConformalCalibration.fit(actuals, preds, np.ones((1, 1)), np.zeros((1, 1)))
    row = cal.table.set_index("horizon_bucket").loc["1-7"]
    # days 1-7: residuals -4..2 -> q10 = -3.4, q50 = -1, q90 = 1.4 (linear interpolation)
    assert (row["q10"], row["q50"], row["q90"]) == pytest.approx((-3.4, -1.0, 1.4))
    lo, mid, hi = cal.quantiles(np.full((1, 3), 20.0), np.array([2.0]), np.array([0.0]))
    np.testing.assert_allclose(lo, 20 - 6.8)  # the residual quantile times the series' scale
    np.testing.assert_allclose(hi, 20 + 2.8)
