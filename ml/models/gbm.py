"""LightGBM and XGBoost as global models over all series (features: ``ml.gbm_features``)."""

from __future__ import annotations

import numpy as np

from ml.gbm_features import (
    CATEGORICAL,
    EXTRA_WINDOW_RANGE,
    feature_columns,
    forecast_frame,
    training_frame,
)
from ml.models.base import Forecaster
from ml.panel import Panel

DEFAULT_LGBM = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.5,
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_child_samples": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "n_estimators": 400,
}

DEFAULT_XGB = {
    "objective": "reg:tweedie",
    "tweedie_variance_power": 1.5,
    "learning_rate": 0.05,
    "max_depth": 7,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_estimators": 400,
}


class _GlobalGBM(Forecaster):
    is_global = True
    uses_known_features = True

    def __init__(
        self,
        params: dict | None = None,
        *,
        max_horizon: int = 365,
        origin_step: int = 14,
        history_days: int = 728,
        seed: int = 0,
        n_jobs: int = 2,
        scale_weights: bool = True,
    ) -> None:
        self.hyper = {**self.defaults(), **(params or {})}
        self.scale_weights = bool(self.hyper.pop("scale_weights", scale_weights))
        # level windows beyond the standard ones (the feature advisor's allow-listed change)
        lo, hi = EXTRA_WINDOW_RANGE
        self.extra_windows = tuple(
            sorted({int(w) for w in self.hyper.pop("extra_windows", ()) if lo <= int(w) <= hi})
        )
        self.max_horizon, self.origin_step, self.history_days = (
            max_horizon,
            origin_step,
            history_days,
        )
        self.seed, self.n_jobs = seed, n_jobs

    def defaults(self) -> dict:
        raise NotImplementedError

    def fit(self, panel: Panel) -> _GlobalGBM:
        train = training_frame(
            panel,
            self.max_horizon,
            origin_step=self.origin_step,
            history_days=self.history_days,
            seed=self.seed,
            extra_windows=self.extra_windows,
        )
        self.features_ = feature_columns(train)
        self.n_train_rows_ = len(train)
        weight = None
        if self.scale_weights:
            # MASE weighs every series equally in its own units: weigh rows by 1 / scale
            weight = 1.0 / np.maximum(
                np.nan_to_num(train["snaive_mae_364"].to_numpy(), nan=1.0), 0.1
            )
        self._fit_model(train[self.features_], train["y"].to_numpy(), weight)
        self._panel = panel
        return self

    def predict(self, h: int) -> np.ndarray:
        frame = forecast_frame(self._panel, h, self.extra_windows)
        pred = self._predict_model(frame[self.features_])
        out = np.zeros((self._panel.n_series, h))
        out[frame["_series"].to_numpy(), frame["horizon"].to_numpy().astype(int) - 1] = pred
        return np.maximum(out, 0.0)

    def params(self) -> dict:
        return {
            **self.hyper,
            "max_horizon": self.max_horizon,
            "origin_step": self.origin_step,
            "history_days": self.history_days,
            "seed": self.seed,
            "extra_windows": list(self.extra_windows),
        }

    def feature_importance(self) -> dict[str, float]:
        raise NotImplementedError


class LightGBMGlobal(_GlobalGBM):
    """One LightGBM model for all series (Tweedie objective by default: counts with many zeros)."""

    name = "lightgbm"

    def defaults(self) -> dict:
        return dict(DEFAULT_LGBM)

    def _fit_model(self, X, y, weight=None) -> None:
        import lightgbm as lgb

        self.model_ = lgb.LGBMRegressor(
            **self.hyper,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            verbosity=-1,
        )
        cats = [c for c in CATEGORICAL if c in X.columns]
        self.model_.fit(X, y, sample_weight=weight, categorical_feature=cats or "auto")

    def _predict_model(self, X) -> np.ndarray:
        return self.model_.predict(X)

    def feature_importance(self) -> dict[str, float]:
        gain = self.model_.booster_.feature_importance(importance_type="gain")
        return dict(zip(self.features_, (gain / max(gain.sum(), 1e-12)).round(6), strict=True))


class XGBoostGlobal(_GlobalGBM):
    """One XGBoost model (hist trees) for all series; Tweedie objective by default."""

    name = "xgboost"

    def defaults(self) -> dict:
        return dict(DEFAULT_XGB)

    def _fit_model(self, X, y, weight=None) -> None:
        import xgboost as xgb

        self.model_ = xgb.XGBRegressor(
            **self.hyper,
            tree_method="hist",
            random_state=self.seed,
            n_jobs=self.n_jobs,
        )
        self.model_.fit(X, y, sample_weight=weight)

    def _predict_model(self, X) -> np.ndarray:
        return self.model_.predict(X)

    def feature_importance(self) -> dict[str, float]:
        gain = self.model_.get_booster().get_score(importance_type="total_gain")
        total = sum(gain.values()) or 1.0
        return {f: round(gain.get(f, 0.0) / total, 6) for f in self.features_}
