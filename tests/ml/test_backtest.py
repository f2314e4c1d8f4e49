"""Backtest folds: expanding windows that never see their own test days."""

from __future__ import annotations

import numpy as np
import pytest

from ml.backtest import make_folds, run_backtest
from ml.models.base import Forecaster
from ml.panel import Panel

# --- make_folds ----------------------------------------------------------------------------------


def test_folds_by_hand():
    # 400 days (0..399), 28-day tests, 14 days apart: fold 0 tests days 372..399 after training
    # on 0..371; each earlier fold moves the origin back 14 days
    folds = make_folds(n_days=400, n_folds=3, horizon=28, step=14)
    assert [f.origin for f in folds] == [371, 357, 343]
    assert [(f.test.start, f.test.stop) for f in folds] == [(372, 400), (358, 386), (344, 372)]
    assert [f.index for f in folds] == [0, 1, 2]


@pytest.mark.parametrize(
    ("n_days", "n_folds", "horizon", "step", "min_train"),
    [
        (400, 3, 28, 14, 56),  # overlapping test windows
        (120, 10, 28, 28, 56),  # history runs out before the folds do
        (1000, 3, 365, 91, 56),  # the production shape
        (84, 5, 28, None, 56),  # exactly min_train + horizon days: one fold
        (800, 4, 7, None, 100),  # step defaults to the horizon
        (300, 6, 30, 50, 10),
    ],
)
def test_folds_never_see_their_own_test_days(n_days, n_folds, horizon, step, min_train):
    folds = make_folds(n_days, n_folds, horizon, step, min_train=min_train)
    step = step or horizon
    # as many folds as fit: origin n - 1 - h - k·step must keep origin + 1 >= min_train days
    assert len(folds) == min(n_folds, (n_days - horizon - min_train) // step + 1)
    for k, f in enumerate(folds):
        assert f.horizon == horizon and len(f.test) == horizon
        assert min(f.test) == f.origin + 1  # every test day follows the last training day
        assert max(f.test) <= n_days - 1  # inside the history
        assert f.origin + 1 >= min_train  # training days [0, origin]
        assert f.origin == n_days - 1 - horizon - k * step
    assert max(folds[0].test) == n_days - 1  # fold 0 ends on the last day of history


def test_training_windows_expand_and_default_step_tiles_the_tests():
    folds = make_folds(n_days=1000, n_folds=3, horizon=91)
    # expanding: every window starts on day 0, so a later fold's training days include the
    # earlier fold's; with step = horizon the test windows sit back to back without overlap
    assert folds[0].origin > folds[1].origin > folds[2].origin
    assert folds[1].test.stop == folds[0].test.start
    assert folds[2].test.stop == folds[1].test.start


def test_too_short_a_history_is_a_clear_error():
    with pytest.raises(ValueError, match="300 days of history cannot hold a 365-day backtest fold"):
        make_folds(n_days=300, n_folds=3, horizon=365)
    # and it names the setting that would work
    with pytest.raises(ValueError, match="FRYCAST_FOLD_HORIZON=244 \\(or less\\) would fit one"):
        make_folds(n_days=300, n_folds=3, horizon=365)
    assert make_folds(n_days=300, n_folds=1, horizon=244)[0].origin == 55
    # 83 days leave 55 training days before a 28-day test: one short of min_train
    with pytest.raises(ValueError, match="after 56 training days"):
        make_folds(n_days=83, n_folds=1, horizon=28)


# --- run_backtest --------------------------------------------------------------------------------


class Recorder(Forecaster):
    """A model double: remembers the panel each fit was shown; forecasts the last training value."""

    name = "recorder"

    def __init__(self, seen: list[Panel]) -> None:
        self.seen = seen

    def fit(self, panel: Panel) -> Recorder:
        self.seen.append(panel)
        self._last = np.nan_to_num(panel.y[:, -1])
        return self

    def predict(self, h: int) -> np.ndarray:
        return np.repeat(self._last[:, None], h, axis=1)


@pytest.fixture(scope="module")
def recorded(tiny_panel):
    seen: list[Panel] = []
    built: list[Recorder] = []

    def factory(name: str) -> Recorder:
        built.append(Recorder(seen))
        return built[-1]

    folds = make_folds(len(tiny_panel.dates), 3, 28, step=35)
    bt = run_backtest(tiny_panel, factory, ["recorder"], folds)
    return folds, bt, seen, built


def test_each_fit_sees_only_days_up_to_its_origin(tiny_panel, recorded):
    folds, _, seen, built = recorded
    # a fresh model per fold: nothing a model learnt on one fold carries to the next
    assert len(seen) == len(built) == len(folds) == 3
    assert len({id(m) for m in built}) == 3
    for fold, panel in zip(folds, seen, strict=True):
        assert panel.dates[-1] == tiny_panel.dates[fold.origin]
        assert panel.y.shape == (tiny_panel.n_series, fold.origin + 1)
        np.testing.assert_array_equal(panel.y, tiny_panel.y[:, : fold.origin + 1])
        # known-in-advance features still reach past the origin (the test window's calendar)
        assert panel.all_dates.equals(tiny_panel.all_dates)


def test_actuals_are_exactly_the_held_out_days(tiny_panel, recorded):
    folds, bt, _, _ = recorded
    assert bt.actuals.shape == bt.predictions["recorder"].shape == (3, tiny_panel.n_series, 28)
    for i, fold in enumerate(folds):
        held_out = tiny_panel.y[:, fold.origin + 1 : fold.origin + 29]
        np.testing.assert_array_equal(bt.actuals[i], held_out)
        # the prediction of fold i is the model's: the last training value, repeated
        last = np.nan_to_num(tiny_panel.y[:, fold.origin])
        np.testing.assert_array_equal(bt.predictions["recorder"][i], np.tile(last[:, None], 28))


def test_scales_and_zero_shares_come_from_training_days(tiny_panel, recorded):
    folds, bt, _, _ = recorded
    for i, fold in enumerate(folds):
        for s in range(tiny_panel.n_series):
            train = tiny_panel.y[s, : fold.origin + 1]
            weekly = np.abs(train[7:] - train[:-7])
            assert bt.scales[i, s] == pytest.approx(np.nanmean(weekly))
            last91 = train[-91:]
            observed = last91[~np.isnan(last91)]
            assert bt.zero_share[i, s] == pytest.approx(np.mean(observed == 0))


def test_every_model_gets_its_own_predictions(tiny_panel):
    folds = make_folds(len(tiny_panel.dates), 2, 14)
    bt = run_backtest(tiny_panel, lambda name: Recorder([]), ["a", "b"], folds)
    assert set(bt.predictions) == set(bt.seconds) == {"a", "b"}
    assert bt.predictions["a"].shape == (2, tiny_panel.n_series, 14)


class GlobalRecorder(Recorder):
    is_global = True


def test_partitioned_global_models_each_see_their_own_series_once(tiny_panel):
    seen: list[Panel] = []
    folds = make_folds(len(tiny_panel.dates), 1, 14)
    bt = run_backtest(
        tiny_panel, lambda name: GlobalRecorder(seen), ["g"], folds, global_partitions=3
    )
    # three models, each fitted on one contiguous block; together every series exactly once
    assert len(seen) == 3
    keys = [k for panel in seen for k in panel.keys]
    assert keys == tiny_panel.keys
    last = np.nan_to_num(tiny_panel.y[:, folds[0].origin])
    np.testing.assert_array_equal(bt.predictions["g"][0], np.tile(last[:, None], 14))

    # without partitions a global model sees every series in one fit, even in chunked runs
    seen.clear()
    run_backtest(tiny_panel, lambda name: GlobalRecorder(seen), ["g"], folds, n_chunks=3)
    assert len(seen) == 1 and seen[0].n_series == tiny_panel.n_series
