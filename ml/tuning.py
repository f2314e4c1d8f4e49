"""Optuna tuning of the global models on backtest folds (median pruning after each fold)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import optuna

from ml.backtest import make_folds
from ml.metrics import mase, seasonal_naive_scale
from ml.models.gbm import LightGBMGlobal, XGBoostGlobal
from ml.nested import scored_folds
from ml.panel import Panel

log = logging.getLogger(__name__)


def _lightgbm_space(trial: optuna.Trial) -> dict:
    return {
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=50),
        "tweedie_variance_power": trial.suggest_float("tweedie_variance_power", 1.05, 1.6),
    }


def _xgboost_space(trial: optuna.Trial) -> dict:
    return {
        "max_depth": trial.suggest_int("max_depth", 4, 10),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 100, 800, step=50),
        "tweedie_variance_power": trial.suggest_float("tweedie_variance_power", 1.05, 1.6),
    }


def tuning_window(
    n_days: int, folds: int, fold_horizon: int, fold_step: int | None, min_train: int = 56
) -> tuple[int, int] | None:
    """Where tuning may look (ml.nested): the last day index it may see — the origin of the
    earliest fold the engine scores, so no scored window was used to tune — and the horizon of
    its own folds (the engine's fold horizon, shortened to fit, never below 28 days). None:
    nothing before the scored folds can hold a tuning fold."""
    engine_folds = make_folds(n_days, folds, fold_horizon, fold_step, min_train)
    scored = scored_folds(engine_folds)
    cutoff = min(engine_folds[i].origin for i in scored) if scored else engine_folds[-1].origin
    horizon = min(fold_horizon, cutoff + 1 - min_train)
    return (cutoff, horizon) if horizon >= 28 else None


SPACES = {"lightgbm": (LightGBMGlobal, _lightgbm_space), "xgboost": (XGBoostGlobal, _xgboost_space)}


def tune(
    panel: Panel,
    model_name: str,
    *,
    horizon: int,
    n_trials: int,
    timeout_s: float | None = None,
    folds: int = 2,
    seed: int = 0,
    n_jobs: int = 2,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Minimise the mean bottom-level MASE over ``folds`` backtest folds of ``horizon`` days.

    The caller gives a panel that ends before the windows the engine scores
    (:func:`tuning_window`): the tuned model's reported scores are then out of sample too.
    """
    cls, space = SPACES[model_name]
    fold_list = make_folds(len(panel.dates), folds, horizon, step=horizon)

    def objective(trial: optuna.Trial) -> float:
        params = space(trial)
        scores = []
        for step, fold in enumerate(fold_list):
            train = panel.truncate(fold.origin)
            model = cls(params, max_horizon=horizon, seed=seed, n_jobs=n_jobs).fit(train)
            pred = model.predict(horizon)
            actual = panel.y[:, fold.test.start : fold.test.stop]
            m = mase(actual, pred, seasonal_naive_scale(train.y))
            scores.append(float(np.nanmean(m)))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        study_name=f"frycast-{model_name}",
    )
    callbacks = [lambda study, trial: on_trial(trial)] if on_trial else None
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=callbacks)
    log.info("tuned %s: best MASE %.4f with %s", model_name, study.best_value, study.best_params)
    return study
