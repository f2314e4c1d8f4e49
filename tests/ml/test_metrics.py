"""Accuracy metrics against examples worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ml.metrics import coverage, mase, pinball, seasonal_naive_scale, smape, wql

NAN = np.nan


def test_seasonal_naive_scale_is_the_mean_weekly_change():
    # y_t - y_{t-7} over days 7..9: |8-1|, |9-2|, |10-3| = 7, 7, 7
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    assert seasonal_naive_scale(y) == pytest.approx(7.0)


def test_seasonal_naive_scale_skips_pairs_with_a_closed_day():
    # pairs (0,7)=|8-1|=7, (1,8)=NaN (closed day 8), (2,9)=|12-3|=9 -> mean 8
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, NAN, 12], dtype=float)
    assert seasonal_naive_scale(y) == pytest.approx(8.0)


def test_seasonal_naive_scale_is_nan_for_too_short_a_history():
    assert np.isnan(seasonal_naive_scale(np.arange(7, dtype=float)))


def test_mase_by_hand():
    # errors |10-8|, |0-1|, |5-5| -> MAE 1; scale 2 -> MASE 0.5
    assert mase(np.array([10.0, 0.0, 5.0]), np.array([8.0, 1.0, 5.0]), 2.0) == pytest.approx(0.5)


def test_mase_ignores_closed_days_and_is_nan_without_scale():
    y = np.array([10.0, NAN, 5.0])
    yhat = np.array([8.0, 100.0, 5.0])
    assert mase(y, yhat, 2.0) == pytest.approx(0.5)  # (2 + 0) / 2 days / scale 2
    assert np.isnan(mase(y, yhat, 0.0))
    assert np.isnan(mase(y, yhat, NAN))


def test_mase_vectorised_over_series():
    y = np.array([[1.0, 2.0], [4.0, 4.0]])
    yhat = np.array([[2.0, 2.0], [0.0, 4.0]])
    # series 0: MAE 0.5 / 0.5 = 1; series 1: MAE 2 / 4 = 0.5
    np.testing.assert_allclose(mase(y, yhat, np.array([0.5, 4.0])), [1.0, 0.5])


def test_smape_by_hand():
    # 2|10-5|/(10+5) = 2/3; y = ŷ = 0 scores 0; 2|4-0|/(4+0) = 2 -> mean (2/3 + 0 + 2) / 3
    got = smape(np.array([10.0, 0.0, 4.0]), np.array([5.0, 0.0, 0.0]))
    assert got == pytest.approx((2 / 3 + 0 + 2) / 3)


def test_smape_skips_closed_days():
    assert smape(np.array([10.0, NAN]), np.array([5.0, 1.0])) == pytest.approx(2 / 3)


def test_pinball_by_hand():
    # q = 0.9: under-forecast by 2 costs 0.9·2 = 1.8; over-forecast by 2 costs 0.1·2 = 0.2
    np.testing.assert_allclose(pinball(np.array([5.0, 5.0]), np.array([3.0, 7.0]), 0.9), [1.8, 0.2])


def test_wql_by_hand():
    y = np.array([4.0, 6.0])  # Σ|y| = 10
    preds = {0.1: np.array([2.0, 5.0]), 0.5: np.array([4.0, 4.0]), 0.9: np.array([6.0, 8.0])}
    # q0.1: 0.1·2 + 0.1·1 = 0.3; q0.5: 0 + 0.5·2 = 1.0; q0.9: 0.1·2 + 0.1·2 = 0.4
    # wQL = mean(2·0.3/10, 2·1.0/10, 2·0.4/10) = mean(0.06, 0.2, 0.08)
    assert wql(y, preds) == pytest.approx((0.06 + 0.2 + 0.08) / 3)


def test_wql_is_nan_when_nothing_sold():
    z = np.zeros(3)
    assert np.isnan(wql(z, {0.1: z, 0.5: z, 0.9: z}))


def test_coverage_by_hand_with_a_closed_day():
    y = np.array([1.0, 5.0, 9.0, NAN])
    lo, hi = np.full(4, 2.0), np.full(4, 9.0)
    # 1 is outside, 5 and 9 (the edge) inside, the closed day does not count -> 2 / 3
    assert coverage(y, lo, hi) == pytest.approx(2 / 3)
