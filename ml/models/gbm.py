"""LightGBM and XGBoost as global models over all series (features: ``ml.gbm_features``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ml.gbm_features import (
    CATEGORICAL,
    EXTRA_WINDOW_RANGE,
    MONOTONE,
    NotEnoughHistory,
    WindowSums,
    feature_columns,
    features_at,
    training_frame,
)
from ml.models.base import Forecaster
from ml.panel import Panel

if TYPE_CHECKING:
    import pandas as pd

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


# features in the series' own units: divided by its recent level when targets are relative
_UNIT_FEATURES = ("weekday_mean_8", "last_year_same_day", "last_year_week", "last_year_scaled")


PREDICT_ROWS = 400_000  # feature rows predicted at once (bounded memory on any panel)
MIN_TRAINING_ROWS = 100  # fewer rows teach a tree nothing (min_child_samples is 50)
_LEVELS = ("level_28", "level_91", "level_364")  # what relative_frame divides by


def relative_frame(frame) -> tuple[object, np.ndarray]:
    """The features with every level-like column divided by the series' recent level (its last
    28 days' mean, else 91 or 364 days', + 0.1), and that level. A tree then learns shapes and
    ratios that hold for a chain of 500 restaurants and for one item alike: on raw units, the few
    biggest series have targets no other series reaches, and a leaf averages them down (the
    chain was forecast 28 % low). ``log_level`` keeps the size itself as a feature."""
    level = frame["level_28"].to_numpy(dtype=float)
    for w in ("level_91", "level_364"):
        level = np.where(np.isnan(level), frame[w].to_numpy(dtype=float), level)
    denom = np.maximum(np.nan_to_num(level, nan=0.0), 1.0)
    X = frame.copy()
    for c in X.columns:
        if c.startswith("level_") or c in _UNIT_FEATURES or c == "snaive_mae_364":
            X[c] = X[c].to_numpy(dtype=float) / denom
    X["log_level"] = np.log1p(denom)
    return X, denom


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
        # targets relative to each series' recent level (relative_frame); False: raw units
        self.relative = bool(self.hyper.pop("relative_target", True))
        # weigh each training row by the forecast days it stands for (long horizons are sampled)
        self.horizon_weights = bool(self.hyper.pop("horizon_weights", False))
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
        self._panel, self._short = panel, None
        try:
            train = training_frame(
                panel,
                self.max_horizon,
                origin_step=self.origin_step,
                history_days=self.history_days,
                seed=self.seed,
                extra_windows=self.extra_windows,
            )
        except NotEnoughHistory as exc:
            # counted as a failure on every series (the engine serves them the fallback), never
            # a traceback minutes into a run: a short backtest fold is a fact, not a crash
            self._short = str(exc)
            return self
        if len(train) < MIN_TRAINING_ROWS:  # LightGBM's bagging of 1-2 rows keeps none: a crash
            self._short = f"{len(train)} training rows (fewer than {MIN_TRAINING_ROWS})"
            return self
        # a column constant over the training rows (no events in this chain, no occasional
        # closure) carries nothing, and would only shift which columns the trees sample; the
        # levels stay: relative targets divide by them (a steady series has a constant level)
        self.features_ = [
            c for c in feature_columns(train) if c in _LEVELS or train[c].nunique(dropna=False) > 1
        ]
        self.n_train_rows_ = len(train)
        X, y = train[self.features_], train["y"].to_numpy()
        denom = np.ones(len(train))
        if self.relative:
            X, denom = relative_frame(X)
            y = y / denom
        weight = None
        if self.scale_weights:
            # MASE weighs every series equally in its own units: weigh rows by 1 / scale (an
            # error in relative units is denom times one in units)
            weight = denom / np.maximum(
                np.nan_to_num(train["snaive_mae_364"].to_numpy(), nan=1.0), 0.1
            )
        if self.horizon_weights:
            hw = train["_horizon_weight"].to_numpy()
            weight = hw if weight is None else weight * hw
        self.inputs_ = list(X.columns)
        self._fit_model(X, y, weight)
        return self

    def predict(self, h: int) -> np.ndarray:
        if self._short:
            self.failures = {"history too short for a training set": self._panel.n_series}
            return np.full((self._panel.n_series, h), np.nan)
        self.failures = {}
        panel = self._panel
        sums, origin, horizons = WindowSums(panel.y), len(panel.dates) - 1, np.arange(1, h + 1)
        out = np.zeros((panel.n_series, h))
        # a block of series at a time: the whole year for 15 k series is 5.7 M feature rows, and
        # each copy of them (the frame, its relative form, LightGBM's matrix) took 2 GB at once
        per_block = max(1, PREDICT_ROWS // h)
        for start in range(0, panel.n_series, per_block):
            rows = np.arange(start, min(start + per_block, panel.n_series))
            series, hh = np.repeat(rows, h), np.tile(horizons, rows.size)
            X, denom = self.design(panel, sums, origin, series, hh)
            out[series, hh - 1] = self._predict_model(X) * denom
        return np.maximum(out, 0.0)

    def design(
        self, panel: Panel, sums: WindowSums, origin: int, series: np.ndarray, hh: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """The model's inputs for the (series, days ahead) pairs at ``origin`` and the scale its
        outputs are multiplied by (each series' recent level when targets are relative, else 1):
        what ``predict`` feeds the model, and what ``ml.drivers`` explains, so the two agree."""
        frame = features_at(panel, sums, origin, series, hh, self.extra_windows)
        X, denom = frame[self.features_], np.ones(len(frame))
        if self.relative:
            X, denom = relative_frame(X)
        return X[self.inputs_], denom

    def params(self) -> dict:
        return {
            **self.hyper,
            "max_horizon": self.max_horizon,
            "origin_step": self.origin_step,
            "history_days": self.history_days,
            "seed": self.seed,
            "extra_windows": list(self.extra_windows),
            "relative_target": self.relative,
            "horizon_weights": self.horizon_weights,
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
        self.model_.set_params(monotone_constraints=[MONOTONE.get(c, 0) for c in X.columns])
        self.model_.fit(X, y, sample_weight=weight, categorical_feature=cats or "auto")

    def _predict_model(self, X) -> np.ndarray:
        return self.model_.predict(X)

    def feature_importance(self) -> dict[str, float]:
        gain = self.model_.booster_.feature_importance(importance_type="gain")
        return dict(zip(self.inputs_, (gain / max(gain.sum(), 1e-12)).round(6), strict=True))


class XGBoostGlobal(_GlobalGBM):
    """One XGBoost model (hist trees) for all series; Tweedie objective by default."""

    name = "xgboost"

    def defaults(self) -> dict:
        return dict(DEFAULT_XGB)

    def _fit_model(self, X, y, weight=None) -> None:
        import xgboost as xgb

        self.model_ = xgb.XGBRegressor(
            **self.hyper,
            # by feature name (XGBoost >= 1.6 reads the DataFrame's columns)
            monotone_constraints={c: MONOTONE[c] for c in X.columns if c in MONOTONE},
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
        return {f: round(gain.get(f, 0.0) / total, 6) for f in self.inputs_}


class PartitionedGBM(Forecaster):
    """A global model per product group or per region, beside the one over every series (the M5
    winners trained per store and per department too): each part learns from its own series
    only, so a group's price response or a region's season is not averaged with the others'.
    Series without a value in the column (an aggregate node spanning groups) share one part."""

    is_global = True
    uses_known_features = True

    def __init__(self, base: type[_GlobalGBM], by: str, name: str, params=None, **kwargs) -> None:
        self.base, self.by, self.name = base, by, name
        self.hyper, self.kwargs = dict(params or {}), kwargs

    def fit(self, panel: Panel) -> PartitionedGBM:
        self._n = panel.n_series
        values = (
            panel.series[self.by].astype("string").fillna("")
            if self.by in panel.series
            else np.full(panel.n_series, "")
        )
        codes = np.unique(np.asarray(values), return_inverse=True)[1]
        self.parts_ = []
        for code in range(codes.max() + 1 if len(codes) else 0):
            rows = np.flatnonzero(codes == code)
            part = self.base(self.hyper, **self.kwargs).fit(panel.select(rows))
            self.parts_.append((rows, part))
        return self

    def predict(self, h: int) -> np.ndarray:
        out = np.full((self._n, h), np.nan)
        failures: dict[str, int] = {}
        for rows, part in self.parts_:
            out[rows] = part.predict(h)
            for reason, count in part.failures.items():
                failures[reason] = failures.get(reason, 0) + count
        self.failures = failures
        return out

    def params(self) -> dict:
        first = self.parts_[0][1].params() if getattr(self, "parts_", None) else {}
        return {**first, "partition_by": self.by, "parts": len(getattr(self, "parts_", []))}
