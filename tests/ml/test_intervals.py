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
