"""`frycast forecast`: read the feature tables, backtest, select, forecast, write, track.

A plain function (no Prefect needed); the Prefect flow wraps the same steps as tasks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from frycast.settings import Settings, get_settings
from frycast.stages import stage
from ml.engine import EngineConfig, EngineResult, run_engine
from ml.gaps import bridge_gaps, bridgeable
from ml.models import GLOBAL_MODELS, NEURAL_MODELS, check_models
from warehouse.forecast_store import (
    champion_version,
    check_alive,
    delete_run_rows,
    finish_run,
    run_lease,
    set_run_config,
    write_results,
)
from warehouse.panel_io import load_panel, restaurant_last_days, stale_among

log = logging.getLogger(__name__)
COHERENCE_TOLERANCE = 1e-6  # relative; the dbt test assert_reconciled_forecasts_add_up agrees


@dataclass
class ForecastReport:
    run_id: int
    n_series: int
    horizon: int
    rows_written: dict[str, int]
    summary: dict  # the bottom level's engine summary
    reconciliation: dict | None
    skipped: dict  # stale restaurants left out: {restaurant: last day}
    mlflow_run_id: str | None
    model_version: str | None  # registered in MLflow; the champion once the run is published
    seconds: float


def engine_config(settings: Settings, **overrides) -> EngineConfig:
    cfg = EngineConfig(
        horizon=settings.horizon_days,
        folds=settings.backtest_folds,
        fold_horizon=settings.fold_horizon,
        fold_step=settings.fold_step,
        models=settings.model_names,
        seed=settings.seed,
        n_jobs=settings.n_jobs,
        global_partitions=settings.global_partitions,
        drivers=settings.drivers,
        model_params={m: settings.neural_params() for m in NEURAL_MODELS},
    )
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    check_models(cfg.models)  # a neural model without its extra: say so before the run starts
    return cfg


def tracking_uri(url: str, settings: Settings) -> str:
    from ml.tracking import warehouse_tracking_uri

    return settings.mlflow_tracking_uri or warehouse_tracking_uri(url)


def make_tracker(url: str, settings: Settings):
    from ml.tracking import Tracker

    uri = tracking_uri(url, settings)
    root = settings.artifact_root()
    if root.startswith("s3://"):  # MLflow writes with its own boto3 client: env and bucket
        from warehouse import s3

        s3.export_env(settings)
        s3.ensure_bucket(s3.client(settings), s3.split(root)[0])
    return Tracker(uri, settings.mlflow_experiment, root)


def run_forecast(
    url: str,
    settings: Settings | None = None,
    *,
    restaurants: list[str] | None = None,
    track: bool = True,
    reconciler: str | None = None,
    run_id: int | None = None,
    **overrides,
) -> ForecastReport:
    """Forecast every active restaurant × SKU series and every node above them, reconcile, and
    write forecast.* (one run)."""
    s = settings or get_settings()
    config = engine_config(s, **overrides)
    reconciler = reconciler or s.reconciler
    if s.apply_feature_advice:
        from agents.advice import feature_advice

        advice = feature_advice(url)
        if advice:
            log.info("applying the feature advisor's changes: %s", advice)
            merged = {**config.model_params}
            for model, params in advice.items():
                merged[model] = {**merged.get(model, {}), **params}
            config = replace(config, model_params=merged)
    started = time.perf_counter()
    run_config = {**config.to_json(), "reconciler": reconciler}
    args = (url, s, config, reconciler, restaurants, track, started)
    if run_id is not None:  # the pipeline's run: its lock's session is the run's liveness
        set_run_config(url, run_id, config.horizon, run_config)
        return _forecast(run_id, *args)
    with run_lease(url, config.horizon, run_config) as run_id:
        return _forecast(run_id, *args)


def _forecast(
    run_id: int,
    url: str,
    s: Settings,
    config: EngineConfig,
    reconciler: str,
    restaurants: list[str] | None,
    track: bool,
    started: float,
) -> ForecastReport:
    mlflow_run_id = version = None
    scope = sorted(restaurants) if restaurants else None  # a run of chosen restaurants only
    try:
        tracker = make_tracker(url, s) if track else None
        last_days = restaurant_last_days(url, restaurants)
        stale, bridged = stale_among(last_days, s.stale_after_days), {}
        if stale and s.stale_restaurants == "forecast":
            bridged, stale = bridgeable(stale, max(last_days.values()))
        if stale or bridged:
            restaurants = [r for r in last_days if r not in stale]
        notes = [
            f"{why}: " + ", ".join(f"{r} (last day {d})" for r, d in sorted(group.items()))
            for why, group in (
                ("not forecast (data ends long before the others'; run them with --restaurant)",
                 stale),
                ("forecast from the common origin across a gap in their data (bridged days are "
                 "not scored; marts.fct_forecast.data_ends_on)", bridged),
            )
            if group
        ]  # fmt: skip
        note = "; ".join(notes) or None
        if note:
            log.warning(note)
        with stage("load panel"):
            panel = load_panel(
                url,
                horizon=config.horizon,
                restaurants=restaurants,
                stale_after_days=None,  # sorted out above, from the same last days
            )
            if bridged:
                panel = bridge_gaps(panel, bridged)
        log.info("panel: %d series × %d days", panel.n_series, len(panel.dates))
        if scope:  # said on the run (the Runs page, the explorer): whose forecast, from when
            own = f"{', '.join(scope)} alone, forecast from their own last day, {panel.end.date()}"
            note = f"{own}; {note}" if note else own
        if tracker is None:
            result = _run(panel, config, s, None, reconciler)
        else:
            with tracker.run(f"forecast-{run_id}", tags={"frycast.run_id": str(run_id)}) as mrun:
                mlflow_run_id = mrun.info.run_id
                result = _run(panel, config, s, tracker, reconciler)
                tracker.log_config(
                    {
                        **config.to_json(),
                        "reconciler": reconciler,
                        "n_series": panel.n_series,
                        "history_end": str(panel.end.date()),
                    }
                )
                bottom = getattr(result, "bottom", result)
                with stage("mlflow"):
                    tracker.log_engine(bottom)
                    if bottom is not result:
                        tracker.log_aggregate_training(result.aggregate)
                        tracker.log_reconciliation(result.summary)
                    version = _register(tracker, bottom)
        if hasattr(result, "bottom") and result.summary["coherence_error"] > COHERENCE_TOLERANCE:
            raise RuntimeError(
                f"reconciled forecasts do not add up: relative gap "
                f"{result.summary['coherence_error']:.1e} > {COHERENCE_TOLERANCE:.0e}"
            )
        check_alive(url, run_id)  # a run whose lock is gone may be another's to write: stop
        delete_run_rows(url, run_id)  # a retried step rewrites its rows, never duplicates
        counts = write_results(url, run_id, result)
        # what the run could not do is part of its record: failed fits and the folds it used
        facts = getattr(result, "bottom", result).summary
        set_run_config(
            url,
            run_id,
            config.horizon,
            {
                "fallbacks": facts.get("fallbacks", {}),
                "folds_used": facts.get("folds_used"),
                "evaluation": facts.get("evaluation"),
                # what a reconciled run chose (FRYCAST_RECONCILER=auto) and why
                "reconciler_used": getattr(result, "summary", {}).get("reconciler_used"),
                "reconciler_choice": getattr(result, "summary", {}).get("reconciler_choice"),
                # restaurants left out for stopping reporting (the Runs page names them)
                "stale_restaurants": {r: str(d) for r, d in sorted(stale.items())},
                "stale_after_days": s.stale_after_days,
                # forecast from the common origin anyway (FRYCAST_STALE_RESTAURANTS=forecast)
                "bridged_restaurants": {r: str(d) for r, d in sorted(bridged.items())},
                # the restaurants asked for (`--restaurant`); null: every active restaurant
                "restaurants": scope,
            },
        )
        for said in (facts.get("folds_used"), facts.get("evaluation")):
            if (said or {}).get("why"):
                log.warning("backtest: %s", said["why"])
        finish_run(
            url,
            run_id,
            status="succeeded",
            history_end=panel.end.date(),
            mlflow_run_id=mlflow_run_id,
            model_version=version,
            message=note,
        )
    except Exception as exc:
        finish_run(
            url, run_id, status="failed", mlflow_run_id=mlflow_run_id, message=str(exc)[:2000]
        )
        raise
    return ForecastReport(
        run_id,
        panel.n_series,
        config.horizon,
        counts,
        getattr(result, "bottom", result).summary,
        result.summary if hasattr(result, "bottom") else None,
        stale,
        mlflow_run_id,
        version,
        time.perf_counter() - started,
    )


def _run(panel, config: EngineConfig, settings: Settings, tracker, reconciler: str):
    if settings.tune_trials > 0:
        config = _tuned(panel, config, settings, tracker)
    if not (settings.dask_workers > 0 or settings.dask_address):
        return _engine(panel, config, reconciler, settings.level_names)
    from flows.distributed import dask_mapper, dask_workers

    workers = dask_workers(settings.dask_address, settings.dask_workers)
    # each worker is one process with one thread: the models inside run single-threaded
    config = replace(config, n_jobs=1)
    with dask_mapper(settings.dask_address, settings.dask_workers) as mapper:
        return _engine(
            panel, config, reconciler, settings.level_names, mapper=mapper, n_chunks=2 * workers
        )


def _engine(panel, config: EngineConfig, reconciler: str, levels=None, **spread):
    if reconciler == "none":
        return run_engine(panel, config, **spread)
    from ml.hierarchical import run_hierarchical
    from ml.reconcile.hierarchy import levels_named

    return run_hierarchical(
        panel, config, reconciler=reconciler, levels=levels_named(levels), **spread
    )


def _tuned(panel, config: EngineConfig, settings: Settings, tracker) -> EngineConfig:
    from ml.tuning import tune, tuning_window

    fold_h = min(config.fold_horizon, config.horizon)
    window = tuning_window(len(panel.dates), config.folds, fold_h, config.fold_step)
    if window is None:
        log.warning("tuning skipped: no history before the scored backtest folds to tune on")
        return config
    cutoff, tune_h = window
    panel = panel.truncate(cutoff)  # tuning never sees a window the backtest scores
    params = dict(config.model_params)
    for name in ("lightgbm", "xgboost"):
        if name not in config.models:
            continue

        def on_trial(trial, name=name):
            if tracker is None:
                return
            with tracker.run(f"tune-{name}-{trial.number}", nested=True):
                tracker.mlflow.log_params({**trial.params, "model": name})
                if trial.value is not None:
                    tracker.mlflow.log_metric("mase", trial.value)
                tracker.mlflow.set_tag("state", trial.state.name)

        study = tune(
            panel,
            name,
            horizon=tune_h,
            n_trials=settings.tune_trials,
            timeout_s=settings.tune_timeout_s,
            seed=config.seed,
            n_jobs=config.n_jobs,
            on_trial=on_trial,
        )
        params[name] = study.best_params
        if tracker is not None:
            tracker.mlflow.log_params(
                {f"{name}.tuned.{k}": v for k, v in study.best_params.items()}
            )
    return replace(config, model_params=params)


def _register(tracker, result: EngineResult) -> str | None:
    """Register the global model with the best bottom-level backtest MASE this run (the
    champion candidate: :func:`promote_champion` names it when the run is published)."""
    per_model = result.summary["per_model"]
    globals_ = [m for m in result.fitted if m in GLOBAL_MODELS]
    if not globals_:
        return None
    best = min(globals_, key=lambda m: per_model[m]["mase"])
    return tracker.register_model(result.fitted[best])


def promote_champion(url: str, settings: Settings | None = None) -> str | None:
    """Point MLflow's champion alias at the latest published run's model (the publish step):
    published runs only, and a step missed (killed after publishing) is made up next time."""
    from ml.tracking import set_champion

    version = champion_version(url)
    if version is not None:
        set_champion(tracking_uri(url, settings or get_settings()), version)
    return version
