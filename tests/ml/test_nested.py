"""The nested evaluation protocol: what a run reports is scored on days no choice behind it saw."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.backtest import Fold, make_folds
from ml.engine import EngineConfig, run_engine
from ml.nested import before, evaluation_note, known_days, scored_folds
from tests.ml.synthetic import panel_of

CONFIG = EngineConfig(
    horizon=14,
    folds=3,
    fold_horizon=14,
    models=("snaive", "weekday_mean", "ets"),
    combo=False,
    n_jobs=1,
)


def _panel(seed: int = 3, n_days: int = 140):
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 1.0, 1.1, 1.2, 1.6, 2.0, 1.4])
    level = rng.uniform(3, 20, (12, 1))
    y = rng.poisson(level * np.tile(week, n_days // 7 + 1)[:n_days]).astype(float)
    return y


def test_known_days_count_only_what_an_earlier_fold_had_seen_by_the_origin():
    # folds 14 days long, origins 7 apart: fold 1's window is half known at fold 0's origin
    folds = [Fold(0, 100, 14), Fold(1, 93, 14), Fold(2, 86, 14)]
    assert list(known_days(folds, 0)) == [0, 7, 14]
    assert list(known_days(folds, 1)) == [0, 0, 7]
    assert list(known_days(folds, 2)) == [0, 0, 0]
    assert scored_folds(folds) == [0, 1]
    a = np.ones((3, 2, 14))
    hidden = before(a, folds, 0)
    assert np.isnan(hidden[0]).all()  # a fold never sees its own window
    assert np.isfinite(hidden[1, :, :7]).all() and np.isnan(hidden[1, :, 7:]).all()
    assert np.isfinite(hidden[2]).all()
    assert "overlap" in evaluation_note(folds)["why"]


def test_default_folds_do_not_overlap_where_the_history_allows():
    folds = make_folds(1095, 3, 365)
    assert [f.origin for f in folds] == [729, 364]  # a third 365-day fold does not fit
    # too short for two such folds: 91 days apart, each with a real training history
    folds = make_folds(730, 3, 365)
    assert [f.origin for f in folds] == [364, 273, 182]
    assert "overlap" in evaluation_note(folds)["why"]


def test_the_choices_a_fold_is_scored_with_never_see_its_own_days():
    # GIVEN two panels that differ only in the last 14 days (fold 0's test window)
    y = _panel()
    other = y.copy()
    other[:, -14:] = other[:, -14:] * 5 + 40
    a, b = (run_engine(panel_of(v, horizon=14), CONFIG) for v in (y, other))
    # THEN fold 0's selection and calibrations are the same in both runs, and so is fold 1's
    for i in (0, 1):
        sa, ca, _ = a.nested[i]
        sb, cb, _ = b.nested[i]
        assert list(sa["model"]) == list(sb["model"])
        for name in ca:
            np.testing.assert_allclose(
                ca[name].table[["q10", "q50", "q90"]], cb[name].table[["q10", "q50", "q90"]]
            )
    # while what the served forecast learned (every fold) did change
    assert not np.allclose(
        a.calibrations["ets"].table["q90"].to_numpy(), b.calibrations["ets"].table["q90"].to_numpy()
    )
    # and the claim for fold 0 is about fold 0's days: the changed days score far worse
    assert b.summary["selected"]["mase"] > 2 * a.summary["selected"]["mase"]
    assert a.summary["evaluation"]["scored_folds"] == [0, 1]
    assert a.summary["evaluation"]["calibration_only_folds"] == [2]


def test_one_fold_reports_no_accuracy_and_says_why():
    result = run_engine(panel_of(_panel(), horizon=14), replace(CONFIG, folds=1))
    note = result.summary["evaluation"]
    assert note["out_of_sample"] is False and "no accuracy figure is out of sample" in note["why"]
    claimed = result.summary["selected"]
    assert claimed["mase"] is None and claimed["coverage_80"] is None
    rows = result.metrics[result.metrics["model"] == "selected"]
    assert len(rows) and rows[["mase", "coverage_80", "wql"]].isna().all().all()
    # the forecast itself is still served, with valid bands
    f = result.forecasts
    assert f[["yhat", "yhat_lo80", "yhat_hi80"]].notna().all().all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_point_lies_inside_its_own_band(seed):
    result = run_engine(panel_of(_panel(seed), horizon=14), CONFIG)
    f = result.forecasts
    assert ((f["yhat_lo80"] <= f["yhat"]) & (f["yhat"] <= f["yhat_hi80"])).all()
    assert (f["yhat_lo80"] <= f["yhat_q50"]).all() and (f["yhat_q50"] <= f["yhat_hi80"]).all()
    # the 'selected' backtest rows score the same construction: their points lie in their bands
    point, lo, _, hi = result.served_backtest
    ok = np.isfinite(point)
    assert ok.any() and (lo[ok] <= point[ok]).all() and (point[ok] <= hi[ok]).all()


def test_a_scored_fold_serves_the_fallback_where_the_chosen_model_could_not_forecast():
    # GIVEN a fold on which ETS failed on series 1 (NaN), as it may on a later, longer fold
    from ml.backtest import BacktestResult
    from ml.engine import replay
    from ml.intervals import ConformalCalibration

    rng = np.random.default_rng(0)
    actuals = rng.poisson(5, (2, 2, 7)).astype(float)
    ets = np.full(actuals.shape, 5.0)
    ets[0, 1] = np.nan
    wmean = np.full(actuals.shape, 4.0)
    bt = BacktestResult(
        [Fold(0, 20, 7), Fold(1, 13, 7)], actuals, np.ones((2, 2)), np.zeros((2, 2)),
        predictions={"ets": ets, "weekday_mean": wmean},
    )  # fmt: skip
    cal = {m: ConformalCalibration.fit(actuals[1:], p[1:], bt.scales[1:], bt.zero_share[1:])
           for m, p in bt.predictions.items()}  # fmt: skip
    selection = pd.DataFrame({"model": ["ets", "ets"]})
    point, lo, _, hi = replay(bt, {0: (selection, cal)}, "weekday_mean")
    # THEN the series is scored as it would be served: by the fallback, not left out or zeroed
    expected = cal["weekday_mean"].distribution(wmean[0, 1:], np.ones(1), np.zeros(1))
    np.testing.assert_allclose(point[0, 1], expected[0][0])
    np.testing.assert_allclose(point[0, 0], cal["ets"].distribution(ets[0, :1], np.ones(1),
                                                                    np.zeros(1))[0][0])  # fmt: skip
    assert np.isnan(point[1]).all()  # fold 1 was not among the choices


@pytest.mark.parametrize(
    ("n_days", "folds", "horizon", "step"),
    [(1095, 3, 365, None), (730, 3, 365, None), (1826, 3, 365, None), (400, 3, 28, 7)],
)
def test_tuning_sees_no_window_the_backtest_scores(n_days, folds, horizon, step):
    from ml.tuning import tuning_window

    cutoff, tune_h = tuning_window(n_days, folds, horizon, step)
    engine = make_folds(n_days, folds, horizon, step)
    assert scored_folds(engine)
    assert all(cutoff <= engine[i].origin for i in scored_folds(engine))
    assert 28 <= tune_h <= horizon and tune_h <= cutoff + 1 - 56  # a real fold fits before it


def test_no_tuning_where_nothing_before_the_folds_holds_a_tuning_fold():
    from ml.tuning import tuning_window

    assert tuning_window(430, 2, 365, None) is None  # one fold, 65 days before it
