"""Accuracy metrics against examples worked by hand (and pinball against scikit-learn).

Every metric reduces the last axis: a (series × days) or (fold × series × days) input gives one
score per row. NaN in ``y`` is a closed day: it neither helps nor hurts a score.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_pinball_loss

from ml.metrics import coverage, mase, pinball, seasonal_naive_scale, smape, wql

NAN = np.nan


# --- seasonal naive scale (the MASE denominator) -------------------------------------------------


def test_seasonal_naive_scale_is_the_mean_weekly_change():
    # y_t - y_{t-7} over days 7..9: |8-1|, |9-2|, |10-3| = 7, 7, 7
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    assert seasonal_naive_scale(y) == pytest.approx(7.0)


def test_seasonal_naive_scale_skips_pairs_with_a_closed_day():
    # pairs (0,7)=|8-1|=7, (1,8)=NaN (closed day 8), (2,9)=|12-3|=9 -> mean 8
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, NAN, 12], dtype=float)
    assert seasonal_naive_scale(y) == pytest.approx(8.0)


def test_seasonal_naive_scale_is_nan_for_too_short_a_history():
    # 7 days hold no (t, t-7) pair at all
    assert np.isnan(seasonal_naive_scale(np.arange(7, dtype=float)))


def test_seasonal_naive_scale_with_another_season_length():
    # m = 1: |3-1| = 2, |6-3| = 3; (6, NaN) and (NaN, 10) are skipped -> 2.5
    assert seasonal_naive_scale(np.array([1, 3, 6, NAN, 10.0]), m=1) == pytest.approx(2.5)


def test_seasonal_naive_scale_per_series():
    # 9 days, m = 7: the pairs are (day 0, day 7) and (day 1, day 8)
    y = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 3, 5],  # |3-0|, |5-0| -> 4
            [1, 2, 1, 1, 1, 1, 1, 1, NAN],  # |1-1| = 0, the second pair is closed -> 0
            [NAN] * 9,  # never open -> NaN
        ]
    )
    np.testing.assert_allclose(seasonal_naive_scale(y), [4.0, 0.0, NAN])
    # a (fold, series, day) stack reduces to (fold, series)
    stacked = seasonal_naive_scale(np.stack([y, 2 * y]))
    np.testing.assert_allclose(stacked, [[4.0, 0.0, NAN], [8.0, 0.0, NAN]])


# --- MASE ----------------------------------------------------------------------------------------


def test_mase_by_hand():
    # errors |10-8|, |0-1|, |5-5| -> MAE 1; scale 2 -> MASE 0.5
    assert mase(np.array([10.0, 0.0, 5.0]), np.array([8.0, 1.0, 5.0]), 2.0) == pytest.approx(0.5)


def test_mase_ignores_closed_days_and_is_nan_without_scale():
    y = np.array([10.0, NAN, 5.0])
    yhat = np.array([8.0, 100.0, 5.0])
    assert mase(y, yhat, 2.0) == pytest.approx(0.5)  # (2 + 0) / 2 days / scale 2
    assert np.isnan(mase(y, yhat, 0.0))  # a flat history: no scale, no score (not inf)
    assert np.isnan(mase(y, yhat, NAN))


def test_mase_vectorised_over_folds_and_series():
    # the engine's shapes: actuals (fold, series, day), scales (fold, series)
    y = np.array(
        [
            [[3, NAN, 5], [0, 0, 0]],  # fold 0
            [[NAN, NAN, NAN], [4, 4, 4]],  # fold 1
        ]
    )
    yhat = np.array(
        [
            [[1, 9, 5], [1, 1, 1]],
            [[1, 1, 1], [1, 1, 1]],
        ],
        dtype=float,
    )
    scales = np.array([[2.0, 0.0], [2.0, 1.5]])
    # fold 0, series 0: |3-1| = 2, closed day skipped, |5-5| = 0 -> MAE 1 / 2 = 0.5
    # fold 0, series 1: MAE 1 but scale 0 -> NaN
    # fold 1, series 0: no actuals -> NaN
    # fold 1, series 1: MAE 3 / 1.5 = 2
    np.testing.assert_allclose(mase(y, yhat, scales), [[0.5, NAN], [NAN, 2.0]])


# --- sMAPE ---------------------------------------------------------------------------------------


def test_smape_by_hand():
    # 2|10-5|/(10+5) = 2/3; y = ŷ = 0 scores 0; 2|4-0|/(4+0) = 2 -> mean (2/3 + 0 + 2) / 3
    got = smape(np.array([10.0, 0.0, 4.0]), np.array([5.0, 0.0, 0.0]))
    assert got == pytest.approx((2 / 3 + 0 + 2) / 3)


def test_smape_skips_closed_days():
    assert smape(np.array([10.0, NAN]), np.array([5.0, 1.0])) == pytest.approx(2 / 3)


def test_smape_per_series():
    y = np.array(
        [
            [10, 0],  # 2/3 and 0 (y = ŷ = 0: the zero denominator scores 0) -> 1/3
            [NAN, NAN],  # closed throughout -> NaN
            [0, 3],  # 2·2/(0+2) = 2 and 2·2/(3+1) = 1 -> 1.5
        ],
        dtype=float,
    )
    yhat = np.array([[5, 0], [1, 1], [2, 1]], dtype=float)
    np.testing.assert_allclose(smape(y, yhat), [1 / 3, NAN, 1.5])


def test_a_missing_forecast_is_not_a_perfect_smape_day():
    # a bug found here: the zero-denominator guard also caught a NaN forecast, scoring it 0
    # day 1: 2|10-5|/15 = 2/3; day 2 has no forecast. Skipping it (as MASE does) gives 2/3,
    # propagating it gives NaN; scoring it 0 gives 1/3, better than the forecast that exists.
    y, yhat = np.array([10.0, 10.0]), np.array([5.0, NAN])
    assert mase(y, yhat, 1.0) == pytest.approx(5.0)  # MASE skips the day: |10-5| / 1
    got = smape(y, yhat)
    assert np.isnan(got) or got == pytest.approx(2 / 3)


# --- pinball and wQL -----------------------------------------------------------------------------


def test_pinball_by_hand():
    # q = 0.9: under-forecast by 2 costs 0.9·2 = 1.8; over-forecast by 2 costs 0.1·2 = 0.2
    np.testing.assert_allclose(pinball(np.array([5.0, 5.0]), np.array([3.0, 7.0]), 0.9), [1.8, 0.2])
    # q = 0.5: half the absolute error either way
    np.testing.assert_allclose(pinball(np.array([5.0, 5.0]), np.array([3.0, 7.0]), 0.5), [1.0, 1.0])


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_pinball_agrees_with_scikit_learn(q):
    rng = np.random.default_rng(7)
    y, pred = rng.poisson(20, 200).astype(float), rng.normal(20, 5, 200)
    assert pinball(y, pred, q).mean() == pytest.approx(mean_pinball_loss(y, pred, alpha=q))


def test_wql_by_hand():
    y = np.array([4.0, 6.0])  # Σ|y| = 10
    preds = {0.1: np.array([2.0, 5.0]), 0.5: np.array([4.0, 4.0]), 0.9: np.array([6.0, 8.0])}
    # q0.1: 0.1·2 + 0.1·1 = 0.3; q0.5: 0 + 0.5·2 = 1.0; q0.9: 0.1·2 + 0.1·2 = 0.4
    # wQL = mean(2·0.3/10, 2·1.0/10, 2·0.4/10) = mean(0.06, 0.2, 0.08)
    assert wql(y, preds) == pytest.approx((0.06 + 0.2 + 0.08) / 3)


def test_wql_is_nan_when_nothing_sold():
    z = np.zeros(3)
    assert np.isnan(wql(z, {0.1: z, 0.5: z, 0.9: z}))


def test_wql_per_series_skips_closed_days():
    y = np.array(
        [
            [4, NAN, 6],  # the example above plus a closed day with wild quantiles
            [0, 0, NAN],  # nothing sold: Σ|y| = 0 -> NaN, not inf
        ]
    )
    preds = {
        0.1: np.array([[2, 100, 5], [1, 1, 1]], dtype=float),
        0.5: np.array([[4, 100, 4], [1, 1, 1]], dtype=float),
        0.9: np.array([[6, 100, 8], [1, 1, 1]], dtype=float),
    }
    np.testing.assert_allclose(wql(y, preds), [(0.06 + 0.2 + 0.08) / 3, NAN])


# --- coverage ------------------------------------------------------------------------------------


def test_coverage_by_hand_with_a_closed_day():
    y = np.array([1.0, 5.0, 9.0, NAN])
    lo, hi = np.full(4, 2.0), np.full(4, 9.0)
    # 1 is outside, 5 and 9 (the edge) inside, the closed day does not count -> 2 / 3
    assert coverage(y, lo, hi) == pytest.approx(2 / 3)


def test_coverage_per_series_with_daily_bounds():
    y = np.array(
        [
            [1, 5, 9, NAN],  # as above -> 2/3
            [NAN, NAN, NAN, NAN],  # closed throughout -> NaN
            [3, 3, 3, 3],  # bounds [1,2], [4,5], [3,3], [0,3]: out, out, in, in -> 1/2
        ]
    )
    lo = np.array([[2, 2, 2, 2], [0, 0, 0, 0], [1, 4, 3, 0]], dtype=float)
    hi = np.array([[9, 9, 9, 9], [9, 9, 9, 9], [2, 5, 3, 3]], dtype=float)
    np.testing.assert_allclose(coverage(y, lo, hi), [2 / 3, NAN, 0.5])


def test_series_without_actuals_score_nan_without_numpy_warnings():
    closed = np.full((2, 14), NAN)
    ones = np.ones((2, 14))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" would fail the test
        results = [
            seasonal_naive_scale(closed),
            mase(closed, ones, np.ones(2)),
            smape(closed, ones),
            wql(closed, {0.1: ones, 0.5: ones, 0.9: ones}),
            coverage(closed, ones, ones),
        ]
    for r in results:
        assert np.isnan(r).all()


def test_a_missing_quantile_drops_the_day_from_loss_and_denominator_alike():
    # the hand example plus a day whose 0.9 quantile is missing: that day is not scored at all,
    # so wQL is the hand example's, not a smaller loss over a larger Σ|y|
    y = np.array([4.0, 6.0, 50.0])
    preds = {
        0.1: np.array([2.0, 5.0, 0.0]),
        0.5: np.array([4.0, 4.0, 0.0]),
        0.9: np.array([6.0, 8.0, NAN]),
    }
    assert wql(y, preds) == pytest.approx((0.06 + 0.2 + 0.08) / 3)
    # a series with no quantiles at all is not scored (NaN), never 0
    assert np.isnan(wql(y, {0.1: np.full(3, NAN), 0.5: np.full(3, NAN), 0.9: np.full(3, NAN)}))


def test_a_day_without_a_band_is_neither_covered_nor_missed():
    y = np.array([1.0, 5.0, 9.0, 4.0])
    lo = np.array([2.0, 2.0, 2.0, NAN])
    hi = np.array([9.0, 9.0, 9.0, 9.0])
    assert coverage(y, lo, hi) == pytest.approx(2 / 3)


# --- against utilsforecast, on the same arrays ---------------------------------------------------


@pytest.fixture
def same_arrays():
    rng = np.random.default_rng(5)
    n, h, t = 6, 28, 120
    train = rng.poisson(8, (n, t)).astype(float)
    y = rng.poisson(8, (n, h)).astype(float)
    point = y + rng.normal(0, 2, (n, h))
    lo, hi = point - rng.uniform(1, 4, (n, h)), point + rng.uniform(1, 4, (n, h))
    return train, y, np.maximum(point, 0), np.maximum(lo, 0), hi


def _long(y, cols: dict) -> pd.DataFrame:
    n, h = y.shape
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n), h),
            "ds": np.tile(np.arange(h), n),
            "y": y.ravel(),
            **{k: v.ravel() for k, v in cols.items()},
        }
    )


def test_metrics_agree_with_utilsforecast(same_arrays):
    from utilsforecast import losses

    train, y, point, lo, hi = same_arrays
    n, t = train.shape
    df = _long(y, {"m": point, "m-lo-80": lo, "m-hi-80": hi, "m-q-10": lo, "m-q-50": point,
                   "m-q-90": hi})  # fmt: skip
    train_df = pd.DataFrame(
        {"unique_id": np.repeat(np.arange(n), t), "ds": np.tile(np.arange(-t, 0), n),
         "y": train.ravel()}
    )  # fmt: skip
    theirs = losses.mase(df, ["m"], seasonality=7, train_df=train_df).sort_values("unique_id")
    np.testing.assert_allclose(mase(y, point, seasonal_naive_scale(train)), theirs["m"])
    # theirs is |e| / (|y| + |ŷ|), in [0, 1]; ours the usual 2|e| / (|y| + |ŷ|), in [0, 2]
    theirs = losses.smape(df, ["m"]).sort_values("unique_id")
    np.testing.assert_allclose(smape(y, point), 2 * theirs["m"])
    theirs = losses.coverage(df, ["m"], level=80).sort_values("unique_id")
    np.testing.assert_allclose(coverage(y, lo, hi), theirs["m"])
    # wQL is their scaled CRPS over the same three quantiles
    qs = np.array([0.1, 0.5, 0.9])
    theirs = losses.scaled_crps(df, {"m": ["m-q-10", "m-q-50", "m-q-90"]}, qs)
    theirs = theirs.sort_values("unique_id")
    np.testing.assert_allclose(wql(y, {0.1: lo, 0.5: point, 0.9: hi}), theirs["m"], rtol=1e-9)
