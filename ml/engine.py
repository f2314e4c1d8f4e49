"""The forecasting engine: backtest every model, calibrate intervals, select per series, forecast.

Plain Python over a :class:`~ml.panel.Panel`; reading the warehouse, writing results and MLflow
logging are the caller's business (``flows/``), so this runs the same in a test, a benchmark and a
Prefect flow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from frycast.levels import FRYCAST_BOTTOM
from frycast.progress import Counted
from frycast.stages import stage
from ml.backtest import (
    BacktestResult,
    Fold,
    Mapper,
    add_failures,
    fit_jobs,
    job_label,
    make_folds,
    run_backtest,
    run_job,
    serial_map,
    zero_share_91,
)
from ml.error_patterns import error_patterns, open_day_scaled, panel_known
from ml.intervals import ConformalCalibration, volume_class
from ml.metrics import coverage, mase, seasonal_naive_scale, smape, wql
from ml.models import GLOBAL_MODELS, build_model
from ml.models.base import NO_HISTORY, Forecaster
from ml.nested import before, evaluation_note, scored_folds
from ml.openness import open_probability, with_openness
from ml.panel import Panel
from ml.reconcile.hierarchy import Hierarchy, levels_named
from ml.selection import select_models

log = logging.getLogger(__name__)

BASELINES = ("snaive", "snaive_yearly", "weekday_mean", "launch_curve")
# specialists for items sold on few days: they compete, but are not averaged into the combo
INTERMITTENT = ("tsb", "adida", "imapa")
# the aggregate levels a bottom-only run (level_metrics) also scores each base model on: a choice
# among the hierarchy's levels (frycast.levels), which give their grouping columns
AGGREGATE_LEVELS = ("chain", "region", "restaurant", "product_group")
BOTTOM = FRYCAST_BOTTOM[0]
# a model serving fewer scored series than this takes its calibration from all series
MIN_SERVED_SERIES = 3


@dataclass(frozen=True)
class EngineConfig:
    horizon: int = 365
    folds: int = 3
    fold_horizon: int = 365  # capped at ``horizon``
    fold_step: int | None = None  # None: non-overlapping where the history allows (make_folds)
    models: tuple[str, ...] = (
        "snaive",
        "weekday_mean",
        "ets",
        "theta",
        "lightgbm",
        "xgboost",
        "tsb",
        "adida",
        "imapa",
    )
    combo: bool = True  # add "combo": the mean of the non-baseline models
    fallback: str = "weekday_mean"  # serves a series its chosen model could not forecast
    # serves the series without backtest actuals (new items, new restaurants): their own few
    # days shrunk to what the same item sells elsewhere, on the group's launch curve
    new_series_model: str = "launch_curve"
    # a model that could not fit more than this share of its backtest series-folds does not
    # compete in selection (its scores would come from the easy series only)
    max_failed_share: float = 0.2
    series_margin: float | None = None  # None: series never leave their segment's model
    min_segment_series: int = 10
    seed: int = 0
    n_jobs: int = 2
    # >1: LightGBM/XGBoost train one model per block of series (ml.backtest.fit_jobs)
    global_partitions: int = 1
    # explain the nodes a global model serves (ml.drivers: TreeSHAP in planner's groups)
    drivers: bool = True
    model_params: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {**asdict(self), "models": list(self.models)}


@dataclass
class EngineResult:
    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    selection: pd.DataFrame
    calibration: pd.DataFrame
    summary: dict
    backtest: BacktestResult
    fitted: dict[str, Forecaster]
    # the served forecast's choices (selection above, and each model's calibration); and each
    # scored fold's own, learned from earlier folds only (ml.nested)
    calibrations: dict[str, ConformalCalibration] = field(default_factory=dict)
    nested: dict[int, tuple] = field(default_factory=dict)
    served_backtest: tuple = ()
    # per node served by a global model and month: the base and each driver group, in units
    drivers: pd.DataFrame | None = None
    # backtest errors by horizon bucket, weekday, holiday and promotion (ml.error_patterns)
    patterns: pd.DataFrame | None = None


def combo_members(config: EngineConfig) -> list[str]:
    return [m for m in config.models if m not in BASELINES + INTERMITTENT]


def run_engine(
    panel: Panel,
    config: EngineConfig,
    model_factory: Callable[[str], Forecaster] | None = None,
    *,
    level_metrics: bool = True,
    patterns: bool = True,
    mapper: Mapper = serial_map,
    n_chunks: int = 1,
) -> EngineResult:
    """Backtest, calibrate, select and forecast ``config.horizon`` days for every series.

    ``level_metrics`` adds backtest scores of the sums of the series per chain, region,
    restaurant and product group (what bottom-up would give); hierarchical runs score their own
    aggregate forecasts instead (``ml.hierarchical``), and their own error ``patterns``, which
    the engine leaves out when ``patterns`` is False. ``mapper`` runs the fits (serially, or on a
    Dask cluster), per-series models in ``n_chunks`` slices of the series; the result is the same.
    """
    started = time.perf_counter()
    factory = model_factory or (
        lambda name: build_model(
            name,
            max_horizon=config.horizon,
            seed=config.seed,
            n_jobs=config.n_jobs,
            params=config.model_params.get(name),
        )
    )
    fold_h = min(config.fold_horizon, config.horizon)
    folds = make_folds(len(panel.dates), config.folds, fold_h, config.fold_step)
    # the fallback and the new series' model are always backtested: they need a calibration
    names = list(dict.fromkeys([*config.models, config.fallback, config.new_series_model]))
    with stage("backtest"):
        bt = run_backtest(panel, factory, names, folds, mapper, n_chunks, config.global_partitions)
    members = combo_members(config)
    if config.combo and len(members) >= 2:
        bt.predictions["combo"] = np.mean([bt.predictions[m] for m in members], axis=0)
    names = list(bt.predictions)

    # candidates are the models asked for (the fallback and the new series' model serve series
    # that failed or have no scores),
    # less those that failed on too many series
    fits = len(folds) * panel.n_series
    # a series with no day of history at a fold's origin is no model's failure: no model could
    # forecast it (it is recorded, and not held against the model)
    failed_share = {
        m: sum(n for why, n in bt.failures.get(m, {}).items() if why != NO_HISTORY) / max(fits, 1)
        for m in names
    }
    if "combo" in names:  # the mean of its members fails where any of them does
        failed_share["combo"] = max((failed_share.get(m, 0.0) for m in members), default=0.0)
    excluded = sorted(m for m in names if failed_share.get(m, 0.0) > config.max_failed_share)
    competing = [m for m in names if (m in config.models or m == "combo") and m not in excluded]
    if not competing:
        # every model asked for failed on too many series: the fallback serves them all, under
        # its own name (summary["fallbacks"] says which failed and how often), never a crash
        log.warning("no model asked for can compete (%s): %s serves", excluded, config.fallback)
        competing = [config.fallback]
    choose = partial(_choose, bt, names, competing, config)

    # the served forecast's choices learn from every fold; each scored fold's evaluation from
    # the earlier folds' known days only (ml.nested)
    selection, calibrations, _ = choose(bt.actuals, bt.scored_actuals, zero_share_91(panel.y))
    nested = {
        i: choose(
            before(bt.actuals, folds, i), before(bt.scored_actuals, folds, i), bt.zero_share[i]
        )
        for i in scored_folds(folds)
    }
    served_bt = replay(bt, nested, config.fallback)  # what the run reports of its forecast

    metrics, pooled = [], {}
    for name in names:
        frame, pooled[name] = _bottom_metrics(panel, bt, name, nested)
        metrics.append(frame)
        if level_metrics:
            metrics.append(_aggregate_metrics(panel, bt, name))
    metrics.append(_scored_rows(panel, bt, served_bt, "selected", series_levels(panel), panel.keys))
    metrics = pd.concat(metrics, ignore_index=True)

    # final fit on all history, only for the models some series uses
    needed = set(selection["model"]) | {config.fallback}  # the fallback serves failed fits
    if "combo" in needed:
        needed |= set(members)
    needed.discard("combo")
    # the best global model is always refitted: it is what MLflow registers as the champion
    globals_ = [m for m in config.models if m in GLOBAL_MODELS]
    if globals_:
        per_model = selection.attrs["panel_scores"]
        needed.add(min(globals_, key=lambda m: per_model.get(m, np.inf)))
    fitted, preds, final_failures, final_training = {}, {}, {}, {}
    with stage("train + forecast"):
        jobs = [
            job
            for name in sorted(needed)
            for job in fit_jobs(
                factory, name, panel, config.horizon, (name,), n_chunks, config.global_partitions
            )
        ]
        outputs = mapper(
            Counted(
                partial(run_job, factory, keep_model=True),
                len(jobs),
                f"train + forecast {config.horizon} days",
                job_label,
            ),
            jobs,
        )
        for name in sorted(needed):
            preds[name] = np.full((panel.n_series, config.horizon), np.nan)
        for job, out in zip(jobs, outputs, strict=True):
            (name,) = job.key
            preds[name][slice(None) if job.rows is None else job.rows] = out.preds
            # fitted in chunks or partitions: keep the first (its params; MLflow's champion)
            fitted.setdefault(name, out.model)
            add_failures(final_failures.setdefault(name, {}), out.failures)
            if out.training:
                final_training.setdefault(name, []).append(out.training)
    if "combo" in set(selection["model"]):
        preds["combo"] = np.mean([preds[m] for m in members], axis=0)
    selection = _serve_failed_fits(selection, preds, config.fallback)
    drivers = None
    if config.drivers:
        with stage("drivers"):
            drivers = _served_drivers(panel, selection, fitted, jobs, preds, config.horizon)

    forecasts = _forecast_frame(panel, config.horizon, selection, preds, calibrations)
    calibration = pd.concat(
        [c.table.assign(model=name) for name, c in calibrations.items()], ignore_index=True
    )
    summary = _summary(
        metrics,
        selection,
        bt,
        folds,
        pooled,
        time.perf_counter() - started,
        set(series_levels(panel)),
    )
    summary["evaluation"] = evaluation_note(folds)
    summary["selected"] = claimed_scores(bt, served_bt)
    summary["folds_used"] = {
        "asked": config.folds,
        "used": len(folds),
        "step_days": folds[0].origin - folds[1].origin if len(folds) > 1 else None,
        "why": None
        if len(folds) == config.folds
        else (
            f"{len(panel.dates)} days of history hold {len(folds)} fold(s) of {fold_h} days "
            "after 56 training days"
        ),
    }
    # each network fit's cost (ml.models.neural): what the budget bought, fold by fold
    summary["training"] = {
        m: {"backtest": bt.training.get(m, []), "final": final_training.get(m, [])}
        for m in dict.fromkeys([*bt.training, *final_training])
    }
    summary["fallbacks"] = {
        m: {
            "backtest": bt.failures.get(m, {}),
            "final": final_failures.get(m, {}),
            "failed_share": round(failed_share.get(m, 0.0), 4),
            "excluded_from_selection": m in excluded,
            "series_served_by_fallback": int(
                (selection["reason"].str.startswith(f"{m} could not")).sum()
            ),
        }
        for m in names
        if bt.failures.get(m) or final_failures.get(m) or m in excluded
    }
    return EngineResult(
        forecasts,
        metrics,
        selection.assign(
            level=series_levels(panel),
            node_key=panel.keys,
            restaurant_id=panel.series["restaurant_id"].to_numpy(),
            sku_id=panel.series["sku_id"].to_numpy(),
        ),
        calibration,
        summary,
        bt,
        fitted,
        calibrations,
        nested,
        served_bt,
        drivers,
        _patterns(panel, bt, served_bt[0]) if patterns else None,
    )


def _patterns(panel: Panel, bt: BacktestResult, served: np.ndarray) -> pd.DataFrame:
    """The served forecast's backtest errors and seasonal naive's on the same cells, per level
    of the series (``ml.error_patterns``)."""
    forecasts = {"selected": served}
    if "snaive" in bt.predictions:
        forecasts["snaive"] = open_day_scaled(bt.predictions["snaive"], bt.p_open)
    levels = series_levels(panel)
    return error_patterns(
        bt.scored_actuals,
        forecasts,
        bt.scales,
        {lvl: np.flatnonzero(levels == lvl) for lvl in dict.fromkeys(levels)},
        panel.all_dates,
        [f.origin for f in bt.folds],
        panel_known(panel),
    )


def _served_drivers(panel: Panel, selection, fitted, jobs, preds, h: int) -> pd.DataFrame | None:
    """The drivers of the nodes a global model serves, where one fit covers every series (a
    partitioned fit is not explained: its first partition's model is all that is kept)."""
    from ml.drivers import monthly_drivers

    whole = {job.key[0] for job in jobs if job.rows is None}
    chosen = selection["model"].to_numpy()
    frames = [
        monthly_drivers(fitted[m], panel, np.flatnonzero(chosen == m), h, preds[m]).assign(model=m)
        for m in ("lightgbm", "xgboost")
        if m in fitted and m in whole and (chosen == m).any()
    ]
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    series = out.pop("series").to_numpy(dtype=int)
    out["level"] = series_levels(panel)[series]
    out["node_key"] = np.asarray(panel.keys, dtype=object)[series]
    return out


def _choose(
    bt: BacktestResult,
    names: list[str],
    competing: list[str],
    config: EngineConfig,
    actuals: np.ndarray,
    scored: np.ndarray,
    zero_share: np.ndarray,
) -> tuple[pd.DataFrame, dict, dict]:
    """What the backtest actuals given teach (the protocol hides, as NaN, what a choice may not
    see): each series' model, by its MASE as served on every day (``scored``: closed days are 0
    units, and every model's forecast is times the chance of opening); the calibration each model
    serves its series with, learned on open days (``actuals``) on the series that chose it, or on
    all where fewer than ``MIN_SERVED_SERIES`` did; and each model's calibration on every series
    (its own scores as a candidate)."""
    p = 1.0 if bt.p_open is None else bt.p_open
    series_mase = {m: mase(scored, bt.predictions[m] * p, bt.scales) for m in competing}
    selection = select_models(
        series_mase,
        segments=volume_class(zero_share),
        fallback=config.new_series_model,
        series_margin=config.series_margin,
        min_segment_series=config.min_segment_series,
    )
    fit = partial(_calibrate, bt, actuals)
    every = {m: fit(m, slice(None)) for m in names}
    chosen = selection["model"].to_numpy()
    served = dict(every)
    for m in set(chosen) & set(names):
        rows = np.flatnonzero(chosen == m)
        # series with a residual to learn from: an actual, the model's forecast and a scale
        resid = actuals[:, rows] - bt.predictions[m][:, rows]
        has = np.isfinite(resid) & np.isfinite(bt.scales[:, rows])[..., None]
        scored = has.any(axis=(0, 2)).sum()
        if 0 < len(rows) < chosen.size and scored >= MIN_SERVED_SERIES:
            served[m] = fit(m, rows)
    return selection, served, every


def _calibrate(bt: BacktestResult, actuals: np.ndarray, name: str, rows) -> ConformalCalibration:
    return ConformalCalibration.fit(
        actuals[:, rows], bt.predictions[name][:, rows], bt.scales[:, rows], bt.zero_share[:, rows]
    )


def replay(bt: BacktestResult, choices: dict[int, tuple], fallback: str) -> tuple[np.ndarray, ...]:
    """The served construction replayed on backtest folds: on fold ``i``, each series' model as
    ``choices[i]`` (a selection and its calibrations) picked it, with its point and quantiles
    from that calibration, times the chance the restaurant opens (``ml.openness``); a series that
    model could not forecast gets ``fallback``, as serving does (``_serve_failed_fits``).
    (point, q10, q50, q90) as (fold, series, day) arrays; NaN on
    folds not in ``choices``."""
    out = [np.full(bt.actuals.shape, np.nan) for _ in range(4)]
    for i, (selection, calibrations, *_) in choices.items():
        chosen = selection["model"].to_numpy(dtype=object).copy()
        for name in np.unique(chosen):
            rows = np.flatnonzero(chosen == name)
            if name != fallback:
                chosen[rows[np.isnan(bt.predictions[name][i, rows]).any(axis=-1)]] = fallback
        for name in np.unique(chosen):
            rows = np.flatnonzero(chosen == name)
            dist = calibrations[name].distribution(
                bt.predictions[name][i, rows], bt.scales[i, rows], bt.zero_share[i, rows]
            )
            for k, a in enumerate(with_openness(dist, bt.p_at(i, rows))):
                out[k][i, rows] = a
    return tuple(out)


def claimed_scores(bt: BacktestResult, served: tuple[np.ndarray, ...]) -> dict:
    """What a run claims for its served (selected) forecast: the served construction scored on
    the folds the nested protocol scores (each with choices from earlier data only); MASE is the
    mean over the series it could score (and says how many it could not), coverage is pooled.
    ``None`` where no fold is out of sample. ``make bench-accuracy`` puts these beside what the
    held-out days then realise."""
    point, lo, med, hi = served
    actuals = bt.scored_actuals
    per_series = mase(actuals, point, bt.scales)  # (fold, series)
    finite = np.isfinite(per_series)
    scored = finite.any(axis=0)
    series_mean = np.where(finite, per_series, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    pooled = pooled_interval_scores(actuals, lo, med, hi)
    return {
        "mase": float(series_mean[scored].mean()) if scored.any() else None,
        "coverage_80": pooled["coverage_80"] if scored.any() else None,
        "wql": pooled["wql"] if scored.any() else None,
        "n_series_scored": int(scored.sum()),
        "n_series_unscored": int((~scored).sum()),
    }


def _serve_failed_fits(
    selection: pd.DataFrame, preds: dict[str, np.ndarray], fallback: str
) -> pd.DataFrame:
    """Series whose chosen model could not forecast them in the final fit get the fallback,
    labelled as the fallback and with the reason (never a number under the failed model's name)."""
    chosen = selection["model"].to_numpy()
    failed = np.array(
        [name != fallback and np.isnan(preds[name][s]).any() for s, name in enumerate(chosen)],
        dtype=bool,
    )
    if not failed.any():
        return selection
    out = selection.copy()
    out.loc[failed, "reason"] = (
        out.loc[failed, "model"] + f" could not forecast the series in the final fit: {fallback}"
    )
    out.loc[failed, "model"] = fallback
    return out


def pooled_interval_scores(y: np.ndarray, lo: np.ndarray, med: np.ndarray, hi: np.ndarray) -> dict:
    """wQL and 80% coverage over all series and days at once (Σ over series, not a mean of
    per-series ratios, which a few near-empty series would dominate)."""
    flat = [np.asarray(a, float).reshape(1, -1) for a in (y, lo, med, hi)]
    return {
        "wql": float(wql(flat[0], {0.1: flat[1], 0.5: flat[2], 0.9: flat[3]})[0]),
        "coverage_80": float(coverage(flat[0], flat[1], flat[3])[0]),
    }


def _bottom_metrics(
    panel: Panel, bt: BacktestResult, name: str, nested: dict
) -> tuple[pd.DataFrame, dict]:
    """A model's own backtest scores per series and fold: MASE and sMAPE of its forecasts, wQL
    and coverage of its bands on the scored folds (calibrated on earlier data; NaN elsewhere),
    each served as the engine serves it (times the chance of opening, ``ml.openness``)."""
    raw = bt.predictions[name]
    pred, lo, med, hi = (np.full(raw.shape, np.nan) for _ in range(4))
    for i in range(len(bt.folds)):
        q = (np.full(raw[i].shape, np.nan),) * 3
        if i in nested:
            q = nested[i][-1][name].quantiles(raw[i], bt.scales[i], bt.zero_share[i])
        pred[i], lo[i], med[i], hi[i] = with_openness((raw[i], *q), bt.p_at(i, slice(None)))
    frame = _scored_rows(panel, bt, (pred, lo, med, hi), name, series_levels(panel), panel.keys)
    return frame, pooled_interval_scores(bt.scored_actuals, lo, med, hi)


def _scored_rows(panel, bt, forecast, model, levels, keys) -> pd.DataFrame:
    """Per series and fold scores of a backtest ``forecast``: (point, q10, q50, q90) arrays,
    on every day (a closed day counts as 0 units)."""
    point, lo, med, hi = forecast
    actuals = bt.scored_actuals
    return _metric_rows(
        bt.folds,
        panel,
        levels,
        list(keys),
        model,
        n_obs=(~np.isnan(actuals)).sum(axis=-1),
        mase=mase(actuals, point, bt.scales),
        smape=smape(actuals, point),
        wql=wql(actuals, {0.1: lo, 0.5: med, 0.9: hi}),
        coverage_80=coverage(actuals, lo, hi),
    )


def _aggregate_metrics(panel: Panel, bt: BacktestResult, name: str) -> pd.DataFrame:
    """The bottom model's forecasts summed to the aggregate levels (``AGGREGATE_LEVELS``), scored
    against the summed actuals: what the model would give a chain or region as a bottom-up sum."""
    h = Hierarchy.from_bottom(panel.series, levels=levels_named(AGGREGATE_LEVELS))
    n_agg = h.n_nodes - panel.n_series

    def summed(bottom: np.ndarray) -> np.ndarray:
        # (folds, series, days) -> (folds, aggregates, days); NaN where no member is observed
        return h.aggregate_observed(np.moveaxis(bottom, 1, 0))[:n_agg].swapaxes(0, 1)

    raw = np.nan_to_num(bt.predictions[name])
    act = summed(bt.scored_actuals)
    pred = summed(raw if bt.p_open is None else raw * bt.p_open)
    scales = np.vstack(
        [
            seasonal_naive_scale(h.aggregate_observed(panel.y[:, : f.origin + 1])[:n_agg])
            for f in bt.folds
        ]
    )
    nodes = h.nodes.iloc[:n_agg]
    return pd.concat(
        [
            _metric_rows(
                bt.folds,
                panel,
                level,
                list(nodes["node_key"].iloc[rows]),
                name,
                n_obs=(~np.isnan(act[:, rows])).sum(axis=-1),
                mase=mase(act[:, rows], pred[:, rows], scales[:, rows]),
                smape=smape(act[:, rows], pred[:, rows]),
                wql=np.full(act[:, rows].shape[:2], np.nan),
                coverage_80=np.full(act[:, rows].shape[:2], np.nan),
            )
            for level, rows in h.level_slices().items()
            if level in AGGREGATE_LEVELS
        ],
        ignore_index=True,
    )


def series_levels(panel: Panel) -> np.ndarray:
    """Each series' hierarchy level: its ``level`` column, else the bottom level."""
    if "level" in panel.series:
        return panel.series["level"].to_numpy(dtype=object)
    return np.full(panel.n_series, BOTTOM, dtype=object)


def _metric_rows(
    folds: list[Fold],
    panel: Panel,
    level: str | np.ndarray,
    keys: list[str],
    model: str,
    **values: np.ndarray,
) -> pd.DataFrame:
    n_f, n_k = len(folds), len(keys)
    frame = pd.DataFrame(
        {
            "level": np.tile(level, n_f) if np.ndim(level) else level,
            "node_key": np.tile(keys, n_f),
            "model": model,
            "fold": np.repeat([f.index for f in folds], n_k),
            "origin": np.repeat([panel.dates[f.origin].date() for f in folds], n_k),
            "horizon": np.repeat([f.horizon for f in folds], n_k),
        }
    )
    for col, arr in values.items():
        frame[col] = np.asarray(arr, dtype=float).reshape(n_f * n_k)
    frame["n_obs"] = frame["n_obs"].astype(int)
    return frame


def _forecast_frame(
    panel: Panel,
    h: int,
    selection: pd.DataFrame,
    preds: dict[str, np.ndarray],
    calibrations: dict[str, ConformalCalibration],
) -> pd.DataFrame:
    scale = seasonal_naive_scale(panel.y)
    zero_share = zero_share_91(panel.y)
    p_open = open_probability(panel, h)
    yhat = np.zeros((panel.n_series, h))
    q = [np.zeros((panel.n_series, h)) for _ in range(3)]
    chosen = selection["model"].to_numpy()
    for name in np.unique(chosen):
        rows = np.flatnonzero(chosen == name)
        dist = calibrations[name].distribution(preds[name][rows], scale[rows], zero_share[rows])
        point, *quantiles = with_openness(dist, None if p_open is None else p_open[rows])
        yhat[rows] = point
        for k, arr in enumerate(quantiles):
            q[k][rows] = arr
    dates = panel.future_dates(h)
    s = panel.series
    return pd.DataFrame(
        {
            "level": np.repeat(series_levels(panel), h),
            "node_key": np.repeat(panel.keys, h),
            "restaurant_id": np.repeat(s["restaurant_id"].to_numpy(), h),
            "sku_id": np.repeat(s["sku_id"].to_numpy(), h),
            "product_group": np.repeat(s["product_group"].to_numpy(), h),
            "region": np.repeat(s["region"].to_numpy(), h),
            "forecast_date": np.tile(dates.date, panel.n_series),
            "yhat": yhat.ravel(),
            "yhat_q50": q[1].ravel(),
            "yhat_lo80": q[0].ravel(),
            "yhat_hi80": q[2].ravel(),
            "model": np.repeat(chosen, h),
            "reconciled": False,
            # the chance the restaurant opens that day (ml.openness); NaN where not known
            "p_open": np.nan if p_open is None else _restaurant_scoped(panel, p_open).ravel(),
        }
    )


def _restaurant_scoped(panel: Panel, p: np.ndarray) -> np.ndarray:
    """P(open) for series inside one restaurant; NaN for nodes spanning restaurants."""
    scoped = panel.series["restaurant_id"].notna().to_numpy()
    if panel.open is not None:
        scoped &= (panel.open[:, : len(panel.dates)] >= 0).any(axis=1)
    return np.where(scoped[:, None], p, np.nan)


def _summary(
    metrics: pd.DataFrame,
    selection: pd.DataFrame,
    bt: BacktestResult,
    folds: list[Fold],
    pooled: dict[str, dict],
    seconds: float,
    own_levels: set[str],
) -> dict:
    bottom = metrics[metrics["level"].isin(own_levels)]
    chain = metrics[metrics["level"] == "chain"]
    per_model = {
        m: {
            "mase": float(g["mase"].mean()),
            "smape": float(g["smape"].mean()),
            "wql": pooled[m]["wql"],
            "coverage_80": pooled[m]["coverage_80"],
            "chain_mase": float(chain.loc[chain["model"] == m, "mase"].mean()),
            "backtest_seconds": round(bt.seconds.get(m, 0.0), 1),
        }
        for m, g in bottom.groupby("model")
        if m in pooled  # the candidates ('selected' is summary["selected"])
    }
    return {
        "folds": [{"fold": f.index, "origin_index": f.origin, "horizon": f.horizon} for f in folds],
        "default_model": selection.attrs.get("default_model"),
        "segment_models": selection.attrs.get("segment_models"),
        "models_chosen": selection["model"].value_counts().to_dict(),
        "per_model": per_model,
        "seconds": round(seconds, 1),
    }
