"""Prophet per series, with the region's holiday calendar, the planners' events (as a second
holiday) and promotion regressors."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ml.models.base import Forecaster
from ml.panel import Panel, fill_closed_days


def _fit_predict(
    dates: pd.DatetimeIndex,
    y: np.ndarray,
    future: pd.DatetimeIndex,
    holidays: np.ndarray,
    events: np.ndarray,
    discount: np.ndarray,
    yearly: bool,
    seed: int,
) -> np.ndarray:
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    from prophet import Prophet

    keep = ~np.isnan(y)
    h = len(future)
    if keep.sum() < 28:
        return np.full(h, float(np.nanmean(y[-28:])) if keep.any() else 0.0)
    n = len(dates)
    all_dates = dates.append(future)
    hol = pd.concat(
        [
            pd.DataFrame({"holiday": "public_holiday", "ds": all_dates[holidays > 0]}),
            pd.DataFrame({"holiday": "event", "ds": all_dates[events > 1e-6]}),
        ]
    )
    frame = pd.DataFrame({"ds": dates[keep], "y": y[keep], "discount": discount[:n][keep]})
    model = Prophet(
        weekly_seasonality=True,
        yearly_seasonality=yearly,
        daily_seasonality=False,
        holidays=hol if len(hol) else None,
        uncertainty_samples=0,  # intervals come from backtest calibration, not Prophet's sampler
    )
    model.add_regressor("discount")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.random.seed(seed)
        model.fit(frame, algorithm="LBFGS")
        pred = model.predict(pd.DataFrame({"ds": future, "discount": discount[n:]}))
    return pred["yhat"].to_numpy(dtype=float)


class ProphetForecaster(Forecaster):
    """Prophet (MAP fit) per series: weekly and yearly seasonality, the public holidays of the
    restaurant's region, and the planned promotion discount as a regressor. Parallel over series."""

    name = "prophet"
    uses_known_features = True

    def __init__(self, max_history: int = 1095, n_jobs: int = 2, seed: int = 0) -> None:
        self.max_history, self.n_jobs, self.seed = max_history, n_jobs, seed

    def fit(self, panel: Panel) -> ProphetForecaster:
        self._panel = panel
        return self

    def predict(self, h: int) -> np.ndarray:
        p = self._panel
        n = len(p.dates)
        start = max(0, n - self.max_history)
        dates = p.dates[start:]
        future = p.future_dates(h)
        y = fill_closed_days(p.y)[:, start:]
        holidays = np.nan_to_num(p.known_at("is_holiday", start, n + h))
        events = (
            p.known_at("is_event", start, n + h)
            if "is_event" in p.known
            else np.zeros_like(holidays)
        )
        discount = p.known_at("discount_pct", start, n + h)
        yearly = len(dates) >= 2 * 365
        rows = Parallel(n_jobs=self.n_jobs, batch_size=8)(
            delayed(_fit_predict)(
                dates, y[i], future, holidays[i], events[i], discount[i], yearly, self.seed
            )
            for i in range(p.n_series)
        )
        return np.maximum(np.vstack(rows), 0.0) if rows else np.zeros((0, h))

    def params(self) -> dict:
        return {"max_history": self.max_history, "algorithm": "LBFGS"}
