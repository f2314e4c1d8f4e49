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
    "lightgbm_group",
    "lightgbm_region",
    "tsb",
    "adida",
    "imapa",
    "lstm",
    "tft",
)
# one network over every series (ml.models.neural): only with the optional extra installed
NEURAL_MODELS = ("lstm", "tft")
# the models that learn from every series at once; the best of them is registered in MLflow
GLOBAL_MODELS = ("lightgbm", "xgboost", *NEURAL_MODELS)
NEURAL_EXTRA_HINT = (
    "needs the optional neural extra (CPU torch + pytorch-forecasting): make setup-neural, "
    "or uv sync --extra neural (README: LSTM and TFT)"
)

# How each model makes its number, in a planner's words (the explorer says it for a node whose
# forecast has no drivers; the global models' drivers are in marts.fct_forecast_drivers)
RULES = {
    "snaive": "the same weekday last week, repeated",
    "snaive_yearly": "the same days 52 weeks earlier (the last week where there is no year)",
    "weekday_mean": "the mean of the last 8 same weekdays (e.g. the last 8 Tuesdays)",
    "launch_curve": "a new item or restaurant: its own first days blended with the item's share "
    "elsewhere and the product group's launch curve, on the restaurant's weekday shape",
    "ets": "exponential smoothing (AutoETS) with a weekly season, fitted to this node alone",
    "theta": "the Theta method with a weekly season, fitted to this node alone",
    "arima": "AutoARIMA with a weekly season, fitted to this node alone",
    "prophet": "Prophet on this node: trend, weekly and yearly seasons, holidays, events, discount",
    "tsb": "intermittent demand (TSB): how often it sells times how much when it does",
    "adida": "intermittent demand (ADIDA): the mean over aggregated periods",
    "imapa": "intermittent demand (IMAPA): the mean over several aggregation levels",
    # read only where a global model's node has no drivers
    "lightgbm": "LightGBM over every series; this node's drivers were not recorded in this run "
    "(the biggest nodes are explained first, within a budget; FRYCAST_DRIVERS=false; or one "
    "model per block of restaurants)",
    "xgboost": "XGBoost over every series; this node's drivers were not recorded in this run "
    "(the biggest nodes are explained first, within a budget; FRYCAST_DRIVERS=false; or one "
    "model per block of restaurants)",
    "lightgbm_group": "LightGBM over the series of this node's product group only",
    "lightgbm_region": "LightGBM over the series of this node's region only",
    "lstm": "an LSTM network over every series: their past weeks, the calendar, holidays, "
    "events, discounts and price ahead, and which restaurant, item, group and region it is",
    "tft": "a Temporal Fusion Transformer over every series: the same inputs as the LSTM, "
    "weighed by attention",
    "combo": "the mean of the non-baseline models' forecasts",
}

# one LightGBM per product group / per region (ml.models.gbm.PartitionedGBM): its column
PARTITIONS = {"lightgbm_group": "product_group_code", "lightgbm_region": "region"}


def served_model(reconciler: str | None) -> str:
    """The model name a run's served forecast is scored under in its metrics: the reconciler's
    (``mint_shrink``, ...) when it reconciled, else ``selected`` (each node's chosen base model).
    SQL reads the same rule as ``marts.fct_forecast_accuracy.is_served``."""
    return reconciler if reconciler and reconciler != "none" else "selected"


def build_model(
    name: str, *, max_horizon: int = 365, seed: int = 0, n_jobs: int = 2, params: dict | None = None
) -> Forecaster:
    """A fresh, unfitted model called ``name`` (one of ``ALL_MODELS``)."""
    check_models([name])
    from ml.models.gbm import LightGBMGlobal, PartitionedGBM, XGBoostGlobal
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
    if name in PARTITIONS:
        return PartitionedGBM(
            LightGBMGlobal, PARTITIONS[name], name, params, max_horizon=max_horizon, seed=seed,
            n_jobs=n_jobs,
        )  # fmt: skip
    if name in NEURAL_MODELS:  # the extra is installed: check_models said so
        from ml.models.neural import NeuralGlobal

        return NeuralGlobal(name, params, max_horizon=max_horizon, seed=seed, n_jobs=n_jobs)
    raise NotImplementedError(f"{name!r} is in ALL_MODELS but build_model cannot build it")


class NeuralExtraMissing(ValueError):
    """A neural model was asked for without the optional extra installed."""


def neural_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("torch", "pytorch_forecasting"))


def check_models(names) -> None:
    """Raise a planner-readable error for a model that cannot run here (unknown, or neural
    without the extra), before a run starts rather than minutes into its backtest."""
    unknown = [m for m in names if m not in ALL_MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; choose from {', '.join(ALL_MODELS)}")
    neural = [m for m in names if m in NEURAL_MODELS]
    if neural and not neural_available():
        raise NeuralExtraMissing(f"{', '.join(neural)} {NEURAL_EXTRA_HINT}")
