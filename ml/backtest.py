"""Expanding-window backtests: every fold trains on days [0, origin] and predicts the next h days.

Fold 0 has the most recent origin (its window ends on the last day of history); fold k starts
``step`` days earlier. A model only ever sees ``panel.truncate(origin)``: nothing after the origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from frycast.progress import Counted
from ml.metrics import seasonal_naive_scale
from ml.models.base import Forecaster
from ml.openness import open_probability
from ml.panel import Panel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    index: int
    origin: int  # the last training day (index into panel.dates)
    horizon: int

    @property
    def test(self) -> range:
        return range(self.origin + 1, self.origin + 1 + self.horizon)


def make_folds(
    n_days: int, n_folds: int, horizon: int, step: int | None = None, min_train: int = 56
) -> list[Fold]:
    """Up to ``n_folds`` folds whose test windows end on or before the last day; each keeps at
    least ``min_train`` training days.

    ``step`` None (the default) spaces origins ``horizon`` days apart, so test windows do not
    overlap, or, where the history cannot hold two such folds, 91 days apart (``fold_step``): the
    nested protocol (``ml.nested``) scores a fold with what the earlier ones knew, and needs one."""
    step = step or fold_step(n_days, n_folds, horizon, min_train)
    folds = []
    for k in range(n_folds):
        origin = n_days - 1 - horizon - k * step
        if origin + 1 < min_train:
            break
        folds.append(Fold(k, origin, horizon))
    if not folds:
        room = n_days - min_train
        hint = (
            f"; FRYCAST_FOLD_HORIZON={room} (or less) would fit one"
            if room > 0
            else f"; load at least {min_train + 1} days"
        )
        raise ValueError(
            f"{n_days} days of history cannot hold a {horizon}-day backtest fold "
            f"after {min_train} training days{hint}"
        )
    return folds


def fold_step(n_days: int, n_folds: int, horizon: int, min_train: int = 56) -> int:
    """Days between fold origins when none is asked for: ``horizon`` (no overlap) where the
    history holds two such folds, else 91 days (overlapping folds, each with a real training
    history; the nested protocol then scores a fold with what earlier folds had seen)."""
    if n_folds < 2 or n_days - horizon - min_train >= horizon:
        return horizon
    return max(1, min(91, horizon))


@dataclass
class BacktestResult:
    """Predictions and actuals of every model on every fold, as (fold, series, day) arrays."""

    folds: list[Fold]
    actuals: np.ndarray  # (n_folds, n_series, h)
    scales: np.ndarray  # (n_folds, n_series): seasonal-naive MAE of each fold's training data
    zero_share: np.ndarray  # (n_folds, n_series): share of zero days in the last 91 training days
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # model -> reason -> (fold, series) fits that failed (their predictions are NaN)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    # model -> each fit's training record (a network's steps, wall time, why it stopped)
    training: dict[str, list[dict]] = field(default_factory=dict)
    # (fold, series, day): P(restaurant open) as each fold's origin knew it (ml.openness; None
    # without open/closed data), and where it was closed (actuals NaN there: 0 units, scored)
    p_open: np.ndarray | None = None
    closed: np.ndarray | None = None

    @property
    def scored_actuals(self) -> np.ndarray:
        """The actuals every served forecast is scored on: a closed day is 0 units (models learn
        and choose on open days, ``actuals``; the forecast a planner gets covers every day)."""
        if self.closed is None or not self.closed.any():
            return self.actuals
        return np.where(self.closed, 0.0, self.actuals)

    def p_at(self, i: int, rows) -> np.ndarray | None:
        return None if self.p_open is None else self.p_open[i, rows]


# map(fn, items) -> [fn(item) for item in items], in order: serially here, or on a Dask cluster
# through Prefect's DaskTaskRunner (flows/distributed.py). ml/ never imports either.
Mapper = Callable[[Callable, list], list]


def serial_map(fn: Callable, items: list) -> list:
    return [fn(item) for item in items]


@dataclass(frozen=True)
class FitJob:
    """One unit of work: fit ``name`` on ``panel`` and predict ``horizon`` days. Per-series models
    get a slice of the series (``rows``), so their work spreads over workers; a global model gets
    every series. ``key`` says where the predictions go."""

    name: str
    panel: Panel
    horizon: int
    key: tuple
    rows: np.ndarray | None = None


def series_chunks(n_series: int, n_chunks: int) -> list[np.ndarray | None]:
    """Contiguous slices of the series for per-series models (None: all of them at once)."""
    if n_chunks <= 1 or n_series <= 1:
        return [None]
    return [c for c in np.array_split(np.arange(n_series), n_chunks) if len(c)]


@dataclass
class JobOutput:
    preds: np.ndarray
    seconds: float
    model: Forecaster | None = None
    failures: dict[str, int] = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # the model's training_log, where it keeps one


def run_job(
    factory: Callable[[str], Forecaster], job: FitJob, keep_model: bool = False
) -> JobOutput:
    started = time.perf_counter()
    model = factory(job.name).fit(job.panel)
    preds = model.predict(job.horizon)
    return JobOutput(
        preds,
        time.perf_counter() - started,
        model if keep_model else None,
        dict(model.failures),
        dict(getattr(model, "training_log", None) or {}),
    )


def job_label(job: FitJob) -> str:
    """How progress names a job: "lightgbm, fold 2, 1,250 series"."""
    fold = f", fold {job.key[1] + 1}" if len(job.key) > 1 else ""
    return f"{job.name}{fold}, {job.panel.n_series:,} series"


def fit_jobs(
    factory: Callable[[str], Forecaster],
    name: str,
    panel: Panel,
    horizon: int,
    key: tuple,
    n_chunks: int,
    global_partitions: int = 1,
) -> list[FitJob]:
    """The jobs that fit ``name`` on ``panel``: a per-series model in ``n_chunks`` slices (the
    same predictions either way); a global model once on every series, or, with
    ``global_partitions`` > 1, one model per contiguous block of series (series are ordered by
    restaurant, so a block is a set of restaurants): each learns only from its own block, which
    bounds one fit's memory and lets the blocks train on different workers."""
    is_global = (n_chunks > 1 or global_partitions > 1) and factory(name).is_global
    chunks = series_chunks(panel.n_series, global_partitions if is_global else n_chunks)
    return [
        FitJob(name, panel if rows is None else panel.select(rows), horizon, key, rows)
        for rows in chunks
    ]


def run_backtest(
    panel: Panel,
    model_factory: Callable[[str], Forecaster],
    names: list[str],
    folds: list[Fold],
    mapper: Mapper = serial_map,
    n_chunks: int = 1,
    global_partitions: int = 1,
) -> BacktestResult:
    """Fit each model on each fold's training days and predict its test window.

    Every (model, fold[, chunk of series]) fit is independent: ``mapper`` runs them, serially or
    spread over workers, and the result is the same either way."""
    h = folds[0].horizon
    n_f, n_s = len(folds), panel.n_series
    actuals = np.full((n_f, n_s, h), np.nan)
    scales = np.full((n_f, n_s), np.nan)
    zero = np.full((n_f, n_s), np.nan)
    for i, fold in enumerate(folds):
        actuals[i] = panel.y[:, fold.test.start : fold.test.stop]
        if panel.imputed is not None:  # a bridged gap is not an actual: never scored
            actuals[i][panel.imputed[:, fold.test.start : fold.test.stop]] = np.nan
        train = panel.y[:, : fold.origin + 1]
        scales[i] = seasonal_naive_scale(train)
        zero[i] = zero_share_91(train)
    result = BacktestResult(folds, actuals, scales, zero)
    if panel.open is not None:
        first = panel.first_observed()
        result.p_open = np.ones((n_f, n_s, h), dtype=np.float32)
        result.closed = np.zeros((n_f, n_s, h), dtype=bool)
        for i, fold in enumerate(folds):
            result.p_open[i] = open_probability(panel.truncate(fold.origin), h)
            days = np.arange(fold.test.start, fold.test.stop)
            result.closed[i] = (panel.open[:, days] == 0) & (days[None, :] >= first[:, None])
    jobs = [
        job
        for name in names
        for i, fold in enumerate(folds)
        for job in fit_jobs(
            model_factory,
            name,
            panel.truncate(fold.origin),
            h,
            (name, i),
            n_chunks,
            global_partitions,
        )
    ]
    started = time.perf_counter()
    outputs = mapper(
        Counted(partial(run_job, model_factory), len(jobs), "backtest", job_label), jobs
    )
    for name in names:
        result.predictions[name] = np.full((n_f, n_s, h), np.nan)
        result.seconds[name] = 0.0
    for job, out in zip(jobs, outputs, strict=True):
        name, i = job.key
        rows = slice(None) if job.rows is None else job.rows
        result.predictions[name][i, rows] = out.preds
        result.seconds[name] += out.seconds  # time spent fitting, wherever it ran
        add_failures(result.failures.setdefault(name, {}), out.failures)
        if out.training:
            result.training.setdefault(name, []).append({"fold": i, **out.training})
    log.info(
        "backtest: %d models × %d folds, %d jobs in %.1fs",
        len(names),
        n_f,
        len(jobs),
        time.perf_counter() - started,
    )
    return result


def add_failures(total: dict[str, int], more: dict[str, int]) -> None:
    for reason, n in more.items():
        total[reason] = total.get(reason, 0) + n


def zero_share_91(y: np.ndarray) -> np.ndarray:
    """Share of zero days among the observed days of each series' last 91 days."""
    y = y[:, -91:]
    obs = ~np.isnan(y)
    count = obs.sum(axis=1)
    zeros = (obs & (y == 0)).sum(axis=1)
    return np.divide(zeros, count, out=np.full(count.shape, np.nan), where=count > 0)
