"""Intervals for any horizon: every day of every series gets ordered, non-negative quantiles,
past the longest backtest day and past a year, and a broken band is refused before writing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.hierarchical import _path_quantiles
from ml.intervals import BUCKETS, ConformalCalibration, bucket_labels, check_quantiles

HORIZONS = [1, 28, 365, 400, 730]


@pytest.fixture(scope="module")
def calibration():
    # residuals of a 365-day backtest (2 folds, 30 series) that grow with the horizon
    rng = np.random.default_rng(3)
    n_f, n, fh = 2, 30, 365
    preds = np.full((n_f, n, fh), 10.0)
    actuals = preds + rng.normal(0, 1, (n_f, n, fh)) * np.sqrt(np.arange(1, fh + 1))
    scales = np.ones((n_f, n))
    zero_share = np.zeros((n_f, n))
    return ConformalCalibration.fit(np.maximum(actuals, 0), preds, scales, zero_share)


def test_the_last_bucket_is_open_ended():
    assert BUCKETS[-1][1] is None and bucket_labels()[-1] == "183+"


@pytest.mark.parametrize("h", HORIZONS)
def test_conformal_quantiles_cover_every_day_of_any_horizon(calibration, h):
    yhat = np.full((4, h), 10.0)
    lo, mid, hi = calibration.quantiles(yhat, np.ones(4), np.zeros(4))
    assert np.isfinite(lo).all() and np.isfinite(mid).all() and np.isfinite(hi).all()
    assert (lo >= 0).all() and (lo <= mid).all() and (mid <= hi).all()
    # past the longest calibrated day the band is the last bucket's, not a fresh guess
    if h > 183:
        np.testing.assert_allclose(hi[:, -1], hi[:, 200])
        assert (hi[:, -1] - lo[:, -1] > hi[:, 0] - lo[:, 0]).all()  # wider than day 1


@pytest.mark.parametrize("h", HORIZONS)
def test_reconciled_path_quantiles_cover_every_day_of_any_horizon(h):
    rng = np.random.default_rng(4)
    err = rng.normal(0, 2, (2, 5, 91))  # a 91-day backtest
    point = np.full((5, h), 20.0)
    lo, mid, hi = _path_quantiles(err, point)
    assert lo.shape == (5, h)
    assert np.isfinite(lo).all() and np.isfinite(mid).all() and np.isfinite(hi).all()
    assert (lo >= 0).all() and (lo <= mid).all() and (mid <= hi).all()


def _frame(lo, mid, hi, point=None):
    n = len(lo)
    return pd.DataFrame(
        {
            "node_key": [f"n{i}" for i in range(n)],
            "forecast_date": pd.date_range("2027-01-01", periods=n).date,
            "yhat": mid if point is None else point,
            "yhat_lo80": lo,
            "yhat_q50": mid,
            "yhat_hi80": hi,
        }
    )


def test_a_broken_band_is_refused_before_anything_is_written():
    check_quantiles(_frame([0.0, 1.0], [1.0, 2.0], [2.0, 2.0]), "ok")
    with pytest.raises(ValueError, match="1 forecast rows .* n1 on 2027-01-02"):
        check_quantiles(_frame([0.0, 123.5], [1.0, 2.0], [2.0, 0.1]), "run 7")  # lo > hi
    with pytest.raises(ValueError, match="missing, negative or unordered"):
        check_quantiles(_frame([0.0, np.nan], [1.0, 2.0], [2.0, 3.0]), "run 7")
    with pytest.raises(ValueError, match="missing, negative or unordered"):
        check_quantiles(_frame([-1.0, 0.0], [1.0, 2.0], [2.0, 3.0]), "run 7")


def test_the_served_point_is_held_inside_its_own_band():
    # GIVEN an intermittent item the model forecasts at 0.5 a day, which sold 0 on 900 days and
    # 3 on 100 (residuals -0.5 and 2.5 at a scale of 1)
    actuals = np.r_[np.zeros(900), np.full(100, 3.0)].reshape(1, 1000, 1)  # 1000 series, day 1
    preds = np.full(actuals.shape, 0.5)
    cal = ConformalCalibration.fit(actuals, preds, np.ones((1, 1000)), np.full((1, 1000), 0.9))
    point, lo, mid, hi = cal.distribution(np.full((1, 1), 0.5), np.ones(1), np.array([0.9]))
    # THEN the band is [0, 0.3] (q90 interpolates between -0.5 and 2.5 at 899.1 of 999), and
    # the model's own 0.5, outside that band, is served as the band's edge
    np.testing.assert_allclose([lo[0, 0], mid[0, 0], hi[0, 0]], [0.0, 0.0, 0.3])
    np.testing.assert_allclose(point[0, 0], 0.3)


def test_nodes_with_few_errors_take_their_levels_pooled_scaled_errors():
    # GIVEN two nodes of one level with 7 backtest errors each (fewer than 60), one ten times the
    # other's size and twice as wrong in scaled terms
    z = np.array([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    err = np.stack([z, 10 * 2 * z])[None]  # (fold, node, day)
    point = np.full((2, 7), 100.0)
    lo, mid, hi = _path_quantiles(
        err, point, scale=np.array([1.0, 10.0]), levels={"region": np.array([0, 1])}
    )
    # THEN each band is the pooled scaled quantile times the node's own scale (not its own 7)
    q10, q90 = np.quantile(np.r_[z, 2 * z], [0.1, 0.9])
    np.testing.assert_allclose(hi[:, 0] - point[:, 0], [q90, 10 * q90])
    np.testing.assert_allclose(point[:, 0] - lo[:, 0], [-q10, -10 * q10])


def test_series_without_training_days_do_not_enter_the_calibration():
    # GIVEN one series with a scale and one with none (no training day at the fold's origin),
    # forecast 0 by a model that should have said it could not
    rng = np.random.default_rng(0)
    act = rng.poisson(20, (1, 2, 28)).astype(float)
    pred = np.full((1, 2, 28), 20.0)
    pred[0, 1] = 0.0
    scales = np.array([[4.0, np.nan]])
    zero = np.zeros((1, 2))
    both = ConformalCalibration.fit(act, pred, scales, zero).table
    alone = ConformalCalibration.fit(act[:, :1], pred[:, :1], scales[:, :1], zero[:, :1]).table
    pd.testing.assert_frame_equal(both, alone)


# a bug found by the accuracy benchmark: a nested fold sees only the near days of the folds
# before it, so its far horizon buckets had no errors, and their band collapsed onto the point
# (the reconciled claim read 0.30 coverage for 0.75 realised on demo at 365 days)
def test_a_bucket_without_errors_keeps_the_nearer_buckets_band():
    rng = np.random.default_rng(5)
    err = rng.normal(0, 2, (2, 5, 365))
    err[:, :, 28:] = np.nan  # only the first 28 days of the earlier folds were known
    point = np.full((5, 365), 20.0)
    lo, _, hi = _path_quantiles(err, point)
    width = hi - lo
    assert (width[:, 300] > 1.0).all()  # not a zero-width band
    np.testing.assert_allclose(width[:, 300], width[:, 20])  # the 8-28 day bucket's
