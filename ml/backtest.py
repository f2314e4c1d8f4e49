"""Expanding-window backtests: every fold trains on days [0, origin] and predicts the next h days.

Fold 0 has the most recent origin (its window ends on the last day of history); fold k starts
``step`` days earlier. A model only ever sees ``panel.truncate(origin)``: nothing after the origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ml.metrics import seasonal_naive_scale
from ml.models.base import Forecaster
from ml.panel import Panel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    index: int
    origin: int  # the last training day (index into panel.dates)
    horizon: int

    @property
    def test(self) -> range:
        return range(self.origin + 1, self.origin + 1 + self.horizon)


def make_folds(
    n_days: int, n_folds: int, horizon: int, step: int | None = None, min_train: int = 56
) -> list[Fold]:
    """Up to ``n_folds`` folds whose test windows end on or before the last day; each keeps at
    least ``min_train`` training days."""
    step = step or horizon
    folds = []
    for k in range(n_folds):
        origin = n_days - 1 - horizon - k * step
        if origin + 1 < min_train:
            break
        folds.append(Fold(k, origin, horizon))
    if not folds:
        raise ValueError(
            f"{n_days} days of history cannot hold a {horizon}-day backtest fold "
            f"after {min_train} training days"
        )
    return folds


@dataclass
class BacktestResult:
    """Predictions and actuals of every model on every fold, as (fold, series, day) arrays."""

    folds: list[Fold]
    actuals: np.ndarray  # (n_folds, n_series, h)
    scales: np.ndarray  # (n_folds, n_series): seasonal-naive MAE of each fold's training data
    zero_share: np.ndarray  # (n_folds, n_series): share of zero days in the last 91 training days
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_backtest(
    panel: Panel, model_factory: Callable[[str], Forecaster], names: list[str], folds: list[Fold]
) -> BacktestResult:
    """Fit each model on each fold's training days and predict its test window."""
    h = folds[0].horizon
    n_f, n_s = len(folds), panel.n_series
    actuals = np.full((n_f, n_s, h), np.nan)
    scales = np.full((n_f, n_s), np.nan)
    zero = np.full((n_f, n_s), np.nan)
    for i, fold in enumerate(folds):
        actuals[i] = panel.y[:, fold.test.start : fold.test.stop]
        train = panel.y[:, : fold.origin + 1]
        scales[i] = seasonal_naive_scale(train)
        zero[i] = zero_share_91(train)
    result = BacktestResult(folds, actuals, scales, zero)
    for name in names:
        preds = np.full((n_f, n_s, h), np.nan)
        started = time.perf_counter()
        for i, fold in enumerate(folds):
            model = model_factory(name)
            model.fit(panel.truncate(fold.origin))
            preds[i] = model.predict(h)
        result.predictions[name] = preds
        result.seconds[name] = time.perf_counter() - started
        log.info("backtest %s: %d folds in %.1fs", name, n_f, result.seconds[name])
    return result


def zero_share_91(y: np.ndarray) -> np.ndarray:
    """Share of zero days among the observed days of each series' last 91 days."""
    y = y[:, -91:]
    obs = ~np.isnan(y)
    count = obs.sum(axis=1)
    zeros = (obs & (y == 0)).sum(axis=1)
    return np.divide(zeros, count, out=np.full(count.shape, np.nan), where=count > 0)
