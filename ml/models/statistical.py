"""Statistical models per series through sktime (its statsforecast-backed ETS, ARIMA and Theta)."""

from __future__ import annotations

import warnings

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


def _fit_predict(kind: str, season: int, y: np.ndarray, h: int) -> np.ndarray:
    """One series: fit on its observed stretch and forecast h days; a constant if too short."""
    y = y[~np.isnan(y)] if np.isnan(y[0]) else y  # leading NaN: not yet on sale
    if y.size < 2 * season + 2 or np.allclose(y, y[0]):
        level = float(np.mean(y[-28:])) if y.size else 0.0
        return np.full(h, level)
    series = pd.Series(y, index=pd.RangeIndex(len(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = _estimator(kind, season).fit(series)
            pred = est.predict(fh=np.arange(1, h + 1)).to_numpy(dtype=float)
        except Exception:  # noqa: BLE001 - a series the model cannot fit gets its recent level
            pred = np.full(h, float(np.mean(y[-28:])))
    return np.where(np.isfinite(pred), pred, float(np.mean(y[-28:])))


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
        rows = Parallel(n_jobs=self.n_jobs, batch_size=16)(
            delayed(_fit_predict)(self.kind, self.season, row, h) for row in self._y
        )
        return np.maximum(np.vstack(rows), 0.0) if rows else np.zeros((0, h))

    def params(self) -> dict:
        return {"kind": self.kind, "season": self.season, "max_history": self.max_history}
