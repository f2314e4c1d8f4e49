"""Backtest folds: expanding windows that never see their own test days."""

from __future__ import annotations

import numpy as np
import pytest

from ml.backtest import make_folds, run_backtest
from ml.models.base import Forecaster
from ml.panel import Panel


def test_folds_never_overlap_their_training_days():
    folds = make_folds(n_days=400, n_folds=3, horizon=28, step=14)
    assert [f.origin for f in folds] == [371 - 0, 371 - 14, 371 - 28]
    for f in folds:
        assert min(f.test) == f.origin + 1  # the first test day follows the last training day
        assert max(f.test) <= 399  # inside the history
        assert len(f.test) == 28


def test_fold_zero_ends_on_the_last_day_and_windows_expand_backwards():
    folds = make_folds(n_days=1000, n_folds=3, horizon=365, step=91)
    assert folds[0].test.stop == 1000
    assert folds[0].origin > folds[1].origin > folds[2].origin


def test_folds_keep_the_minimum_training_days():
    folds = make_folds(n_days=120, n_folds=10, horizon=28, step=28, min_train=56)
    assert all(f.origin + 1 >= 56 for f in folds)
    assert len(folds) == 2  # origins 91 and 63; 35 would leave 36 training days


def test_too_short_a_history_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot hold a 365-day backtest fold"):
        make_folds(n_days=300, n_folds=3, horizon=365)


class Recorder(Forecaster):
    """Remembers what each fit was shown; forecasts the last value."""

    seen: list[tuple[object, tuple]] = []

    def fit(self, panel: Panel) -> Recorder:
        Recorder.seen.append((panel.dates[-1], panel.y.shape))
        self._last = np.nan_to_num(panel.y[:, -1])
        return self

    def predict(self, h: int) -> np.ndarray:
        return np.repeat(self._last[:, None], h, axis=1)


def test_each_fit_sees_only_days_up_to_its_origin(tiny_panel):
    Recorder.seen = []
    folds = make_folds(len(tiny_panel.dates), 3, 28, step=28)
    bt = run_backtest(tiny_panel, lambda name: Recorder(), ["recorder"], folds)
    for fold, (last_day, shape) in zip(folds, Recorder.seen, strict=True):
        assert last_day == tiny_panel.dates[fold.origin]
        assert shape == (tiny_panel.n_series, fold.origin + 1)
    # the actuals are exactly the held-out days, and the forecast is the last training value
    for i, fold in enumerate(folds):
        np.testing.assert_array_equal(
            bt.actuals[i], tiny_panel.y[:, fold.origin + 1 : fold.origin + 29]
        )
        np.testing.assert_array_equal(
            bt.predictions["recorder"][i][:, 0], np.nan_to_num(tiny_panel.y[:, fold.origin])
        )
