"""Statistical models per series through sktime (its statsforecast-backed ETS, ARIMA and Theta)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ml.models.base import Forecaster
from ml.panel import Panel, fill_closed_days

_KINDS = ("ets", "arima", "theta")


def _estimator(kind: str, season: int):
    from sktime.forecasting.statsforecast import (
        StatsForecastAutoARIMA,
        StatsForecastAutoETS,
        StatsForecastAutoTheta,
    )

    if kind == "ets":
        return StatsForecastAutoETS(season_length=season)
    if kind == "arima":
        # a bounded search: daily series are long, and a full stepwise search per series is slow
        return StatsForecastAutoARIMA(sp=season, max_p=2, max_q=2, max_P=1, max_Q=1)
    return StatsForecastAutoTheta(season_length=season)


def _fit_predict(kind: str, season: int, y: np.ndarray, h: int) -> tuple[np.ndarray, str | None]:
    """One series: fit on its observed stretch and forecast h days. A series the model cannot
    fit gets NaN and the reason, never a stand-in number under the model's name: the engine
    counts it and serves that series another model."""
    y = y[~np.isnan(y)] if np.isnan(y[0]) else y  # leading NaN: not yet on sale
    if y.size < 2 * season + 2:
        return np.full(h, np.nan), "history too short"
    if np.allclose(y, y[0]):
        return np.full(h, float(y[0])), None  # a constant series: the model's own answer
    series = pd.Series(y, index=pd.RangeIndex(len(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = _estimator(kind, season).fit(series)
            pred = est.predict(fh=np.arange(1, h + 1)).to_numpy(dtype=float)
        except Exception as exc:  # noqa: BLE001 - counted and served by another model
            return np.full(h, np.nan), type(exc).__name__
    if not np.isfinite(pred).all():
        return np.full(h, np.nan), "non-finite forecast"
    return pred, None


class SktimeForecaster(Forecaster):
    """AutoETS, AutoARIMA or AutoTheta (weekly season), one fit per series, in parallel.

    ``max_history`` days are used (the recent regime matters most, and fitting cost grows with
    length); closed days are filled with the same weekday of an earlier week.
    """

    def __init__(self, kind: str, season: int = 7, max_history: int = 728, n_jobs: int = 2) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}")
        self.kind, self.season, self.max_history, self.n_jobs = kind, season, max_history, n_jobs
        self.name = kind

    def fit(self, panel: Panel) -> SktimeForecaster:
        y = fill_closed_days(panel.y)
        self._y = y[:, -self.max_history :]
        return self

    def predict(self, h: int) -> np.ndarray:
        out = Parallel(n_jobs=self.n_jobs, batch_size=16)(
            delayed(_fit_predict)(self.kind, self.season, row, h) for row in self._y
        )
        self.failures = dict(Counter(reason for _, reason in out if reason))
        if not out:
            return np.zeros((0, h))
        return np.maximum(np.vstack([pred for pred, _ in out]), 0.0)  # NaN stays NaN

    def params(self) -> dict:
        return {"kind": self.kind, "season": self.season, "max_history": self.max_history}
