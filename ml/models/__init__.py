"""The model zoo behind one interface, built by name from settings."""

from __future__ import annotations

from ml.models.base import Forecaster

ALL_MODELS = (
    "snaive",
    "snaive_yearly",
    "weekday_mean",
    "launch_curve",
    "ets",
    "theta",
    "arima",
    "prophet",
    "lightgbm",
    "xgboost",
    "tsb",
    "adida",
    "imapa",
)


def build_model(
    name: str, *, max_horizon: int = 365, seed: int = 0, n_jobs: int = 2, params: dict | None = None
) -> Forecaster:
    """A fresh, unfitted model called ``name`` (one of ``ALL_MODELS``)."""
    from ml.models.gbm import LightGBMGlobal, XGBoostGlobal
    from ml.models.intermittent import KINDS, IntermittentForecaster
    from ml.models.launch import LaunchCurve
    from ml.models.naive import SeasonalNaive, WeekdayMean
    from ml.models.prophet import ProphetForecaster
    from ml.models.statistical import SktimeForecaster

    if name == "snaive":
        return SeasonalNaive()
    if name == "snaive_yearly":
        return SeasonalNaive(yearly=True)
    if name == "weekday_mean":
        return WeekdayMean()
    if name == "launch_curve":
        return LaunchCurve(**(params or {}))
    if name in ("ets", "theta", "arima"):
        return SktimeForecaster(name, n_jobs=n_jobs)
    if name == "prophet":
        return ProphetForecaster(n_jobs=n_jobs, seed=seed)
    if name in KINDS:
        return IntermittentForecaster(name)
    if name == "lightgbm":
        return LightGBMGlobal(params, max_horizon=max_horizon, seed=seed, n_jobs=n_jobs)
    if name == "xgboost":
        return XGBoostGlobal(params, max_horizon=max_horizon, seed=seed, n_jobs=n_jobs)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(ALL_MODELS)}")
