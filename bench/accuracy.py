"""`make bench-accuracy`: frycast's served forecast against the libraries a team would reach for,
on held-out days, all on the same split in the same process.

Datasets: the real London takeaway export (imported through `frycast import orders`, built by dbt),
the synthetic demo tier, and a generated chain where half the restaurants close on one weekday and
some on random days (``CLOSING``). For each holdout, frycast runs its whole hierarchical engine on
the days before (backtest, selection, calibration, MinT reconciliation); the peers run on the same
training days: statsforecast's AutoETS, AutoTheta and SeasonalNaive (weekly season) and mlforecast
LightGBM with standard lags. Every method is scored on the held-out days: bottom-level MASE on all
days (a closed day is 0 units) and on open days, chain and region MASE (the sums of a peer's
bottom forecasts), bias by level, pooled wQL and 80 % coverage, and wall time.

``solo`` models run alone through the same engine (their own backtests, conformal calibration and
fallback; no selection among others, no combo) and are scored the same way: how LSTM and TFT
(the neural extra) do next to LightGBM and AutoETS. ``model@level`` fits it on that level's
nodes instead (e.g. restaurant × product group) and carries each node's forecast down to its
items by their share of its last 28 days' sales.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import RESULTS_DIR, fresh_database, write_results
from frycast.settings import PROJECT_ROOT, Settings, get_settings
from ingest.generator import ChainSpec
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from ml.engine import EngineConfig, pooled_interval_scores, run_engine
from ml.hierarchical import aggregate_panel, run_hierarchical
from ml.metrics import mase, seasonal_naive_scale
from ml.models import NEURAL_MODELS
from ml.panel import Panel, fill_closed_days
from ml.reconcile.hierarchy import Hierarchy, levels_named
from warehouse.dbt import run_dbt
from warehouse.panel_io import load_panel

log = logging.getLogger(__name__)
LONDON = PROJECT_ROOT.parent / "shared" / "data" / "london_takeaway"
# a chain whose restaurants close regularly: half on one weekday, a fifth on random days
CLOSING = ChainSpec(
    restaurants=20,
    skus=15,
    days=730,
    start=date(2024, 1, 1),
    seed=7,
    closing_weekday_share=0.5,
    irregular_share=0.2,
)
HOLDOUTS = {"london": (28, 365), "demo": (28, 365), "closing": (56,)}
PEERS = {
    "ets": "AutoETS (statsforecast)",
    "theta": "AutoTheta (statsforecast)",
    "snaive": "seasonal naive (statsforecast)",
    "mlforecast": "LightGBM (mlforecast, lags)",
}


@dataclass
class Score:
    dataset: str
    holdout_days: int
    method: str
    mase: float  # bottom level, every day (closed = 0 units)
    mase_open: float  # bottom level, open days only
    chain_mase: float
    region_mase: float
    bias_bottom: float  # (Σ forecast - Σ actual) / Σ actual, every day
    bias_region: float
    bias_chain: float
    wql: float
    coverage_80: float
    n_series: int
    seconds: float
    # frycast only: what the run claimed for its forecast (its own backtests, before the
    # holdout) beside what the holdout realised (mase, coverage_80 above)
    mase_claimed: float | None = None
    coverage_claimed: float | None = None
    # frycast only: realised 80 % coverage per level and horizon bucket ({level: {bucket: c}})
    coverage_by: dict | None = None
    # bottom level, the days planners judge a forecast on: public holidays of the series'
    # region, and days its restaurant was closed (0 units); NaN when the holdout has none
    mase_holiday: float = float("nan")
    mase_closed: float = float("nan")
    # solo rows: each fit's training wall time per 1,000 series (the networks' training log)
    train_seconds_per_1k: float | None = None

    @property
    def mase_realised(self) -> float:
        return self.mase

    @property
    def coverage_realised(self) -> float:
        return self.coverage_80


def prepare(server_url: str, dataset: str) -> str:
    """A fresh database with the dataset imported by the normal path and built by dbt."""
    url = fresh_database(server_url, f"frycast_bench_acc_{dataset}")
    if dataset == "london":
        import_orders(
            url,
            LONDON / "restaurant-1-orders.csv",
            Restaurant("London Takeaway", "London", "London"),
            prices=LONDON / "restaurant-1-products-price.csv",
        )
    else:
        seed(url, CLOSING if dataset == "closing" else ChainSpec.for_tier("demo"))
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], url)
    if not result.success:
        raise RuntimeError("dbt build failed:\n" + "\n".join(result.failures))
    return url


@dataclass
class Holdout:
    """The truth of one split: training panel, actuals on every day and on open days."""

    train: Panel
    actual: np.ndarray  # closed days 0
    actual_open: np.ndarray  # closed days NaN
    regions: np.ndarray  # each series' region
    holiday: np.ndarray | None = None  # (series × held-out day) a public holiday of its region


def holdout(panel: Panel, h: int) -> Holdout:
    n = len(panel.dates)
    train = panel.truncate(n - 1 - h)
    actual_open = panel.y[:, n - h :]
    actual = actual_open
    if panel.open is not None:
        started = train.first_observed() < n - h  # on sale before the holdout
        closed = (panel.open[:, n - h : n] == 0) & started[:, None]
        actual = np.where(closed, 0.0, actual_open)
    holiday = None
    if "is_holiday" in panel.known:
        holiday = np.nan_to_num(panel.known["is_holiday"][:, n - h : n]) > 0
    return Holdout(train, actual, actual_open, panel.series["region"].to_numpy(), holiday)


def _mase_on(actual: np.ndarray, pred: np.ndarray, scale: np.ndarray, days) -> float:
    """Mean over series of the scaled absolute error on the marked days only."""
    if days is None or not days.any():
        return float("nan")
    err = np.where(days & ~np.isnan(actual), np.abs(actual - pred), np.nan)
    with np.errstate(all="ignore"):
        per_series = np.nanmean(err, axis=1) / scale
    return float(np.nanmean(per_series[np.isfinite(per_series)]))


def _group(y: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Sums of series per group; a day with no observed member is NaN."""
    out = np.zeros((n, y.shape[1]))
    cnt = np.zeros((n, y.shape[1]))
    np.add.at(out, codes, np.nan_to_num(y))
    np.add.at(cnt, codes, ~np.isnan(y))
    return np.where(cnt > 0, out, np.nan)


def _bias(actual: np.ndarray, pred: np.ndarray) -> float:
    ok = ~np.isnan(actual)
    total = actual[ok].sum()
    return float((pred[ok].sum() - total) / total) if total else float("nan")


def _score(
    dataset: str,
    method: str,
    split: Holdout,
    yhat: np.ndarray,
    lo: np.ndarray,
    med: np.ndarray,
    hi: np.ndarray,
    seconds: float,
) -> Score:
    train, actual = split.train, split.actual
    h = actual.shape[1]
    scale = seasonal_naive_scale(train.y)
    per_series = mase(actual, yhat, scale)
    codes, names = pd.factorize(split.regions)
    hist_regions = _group(train.y, codes, len(names))
    region_act, region_pred = _group(actual, codes, len(names)), _group(yhat, codes, len(names))
    chain_actual = _group(actual, np.zeros(len(actual), int), 1)
    chain_scale = seasonal_naive_scale(_group(train.y, np.zeros(len(actual), int), 1))
    pooled = pooled_interval_scores(actual, lo, med, hi)
    return Score(
        dataset,
        h,
        method,
        mase=float(np.nanmean(per_series)),
        mase_open=float(np.nanmean(mase(split.actual_open, yhat, scale))),
        chain_mase=float(mase(chain_actual, yhat.sum(axis=0, keepdims=True), chain_scale)[0]),
        region_mase=float(
            np.nanmean(mase(region_act, region_pred, seasonal_naive_scale(hist_regions)))
        ),
        bias_bottom=_bias(actual, yhat),
        bias_region=_bias(region_act, region_pred),
        bias_chain=_bias(chain_actual, yhat.sum(axis=0, keepdims=True)),
        wql=pooled["wql"],
        coverage_80=pooled["coverage_80"],
        n_series=int(np.isfinite(per_series).sum()),
        seconds=round(seconds, 1),
        mase_holiday=_mase_on(actual, yhat, scale, split.holiday),
        mase_closed=_mase_on(actual, yhat, scale, np.isnan(split.actual_open) & (actual == 0)),
    )


def _long_frame(train: Panel) -> pd.DataFrame:
    """The bottom series as a long (unique_id, ds, y) frame, closed days filled the usual way
    (the same weekday of an earlier week), from each series' first day."""
    y = fill_closed_days(train.y)
    frames = []
    for i in range(train.n_series):
        keep = ~np.isnan(y[i])
        if keep.sum() < 2:
            keep = np.ones_like(keep)
            y[i] = np.nan_to_num(y[i])
        frames.append(pd.DataFrame({"unique_id": i, "ds": train.dates[keep], "y": y[i][keep]}))
    return pd.concat(frames, ignore_index=True)


def _statsforecast(train: Panel, h: int, model: str, n_jobs: int) -> tuple[np.ndarray, ...]:
    """AutoETS, AutoTheta or SeasonalNaive from statsforecast, off the shelf, with its own 80%
    intervals."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    m = {"ets": AutoETS, "theta": AutoTheta, "snaive": SeasonalNaive}[model](season_length=7)
    sf = StatsForecast(models=[m], freq="D", n_jobs=n_jobs, fallback_model=SeasonalNaive(7))
    out = sf.forecast(df=_long_frame(train), h=h, level=[80]).sort_values(["unique_id", "ds"])
    name = {"ets": "AutoETS", "theta": "AutoTheta", "snaive": "SeasonalNaive"}[model]
    grid = lambda col: np.maximum(out[col].to_numpy().reshape(train.n_series, h), 0.0)  # noqa: E731
    point = grid(name)
    return point, grid(f"{name}-lo-80"), point, grid(f"{name}-hi-80")


def _mlforecast(train: Panel, h: int, n_jobs: int, seed: int) -> tuple[np.ndarray, ...]:
    """mlforecast's LightGBM, as its guides set it up for daily data: lags 1/7/14/28 and rolling
    means of the last week and four weeks, weekday and month features, recursive forecasts, and
    its conformal 80% intervals (two windows of h days where the history allows)."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.utils import PredictionIntervals

    df = _long_frame(train)
    fcst = MLForecast(
        models={"lgb": lgb.LGBMRegressor(n_estimators=300, verbosity=-1, random_state=seed)},
        freq="D",
        lags=[1, 7, 14, 28],
        lag_transforms={1: [RollingMean(7), RollingMean(28)], 7: [RollingMean(4)]},
        date_features=["dayofweek", "month"],
        num_threads=n_jobs,
    )
    try:
        fcst.fit(df, prediction_intervals=PredictionIntervals(n_windows=2, h=h))
        out = fcst.predict(h, level=[80])
    except Exception:  # noqa: BLE001 - too short for two conformal windows: point forecasts only
        fcst.fit(df)
        out = fcst.predict(h)
        out["lgb-lo-80"] = out["lgb-hi-80"] = np.nan
    out = out.sort_values(["unique_id", "ds"])
    ids = out["unique_id"].to_numpy()
    grid = lambda col: _to_grid(ids, out[col].to_numpy(), train.n_series, h)  # noqa: E731
    point = grid("lgb")
    return point, grid("lgb-lo-80"), point, grid("lgb-hi-80")


def _to_grid(ids: np.ndarray, values: np.ndarray, n: int, h: int) -> np.ndarray:
    grid = np.zeros((n, h))
    grid[ids[::h].astype(int)] = np.maximum(values.reshape(-1, h), 0.0)  # h rows per series
    return grid


def _peer(method: str, train: Panel, h: int, s: Settings) -> tuple[np.ndarray, ...]:
    if method == "mlforecast":
        return _mlforecast(train, h, s.n_jobs, s.seed)
    return _statsforecast(train, h, method, s.n_jobs)


def run(
    server_url: str,
    datasets=("london", "demo", "closing"),
    holdouts: tuple[int, ...] | None = None,
    settings: Settings | None = None,
    before: int = 0,
    solo: tuple[str, ...] = (),
    solo_only: bool = False,
) -> list[Score]:
    """Every dataset at its holdouts (``HOLDOUTS``, or ``holdouts`` for all of them). With
    ``before`` > 0 the data end that many days earlier: a tuning split whose held-out days lie
    before the reported ones, so a choice made on it has not seen them."""
    s = settings or get_settings()
    scores = []
    for dataset in datasets:
        url = prepare(server_url, dataset)
        days = holdouts or HOLDOUTS.get(dataset, (28,))
        panel = load_panel(url, horizon=max(days))
        if before:
            panel = panel.truncate(len(panel.dates) - 1 - before)
        for h in days:
            split = holdout(panel, h)
            for spec in solo:
                scores.append(_solo(dataset, split, h, s, spec))
            if solo_only:
                continue
            scores.extend(_frycast(dataset, split, h, s))
            for method, label in PEERS.items():
                started = time.perf_counter()
                preds = _peer(method, split.train, h, s)
                scores.append(
                    _score(dataset, label, split, *preds, seconds=time.perf_counter() - started)
                )
    return scores


def _frycast(dataset: str, split: Holdout, h: int, s: Settings) -> list[Score]:
    """frycast's served (reconciled) forecast and its base bottom forecast, from one run."""
    config = EngineConfig(
        horizon=h,
        fold_horizon=h,
        folds=s.backtest_folds,
        fold_step=s.fold_step,
        models=s.model_names,
        seed=s.seed,
        n_jobs=s.n_jobs,
    )
    train = split.train
    started = time.perf_counter()
    result = run_hierarchical(train, config, reconciler=s.reconciler)
    seconds = time.perf_counter() - started
    keys = pd.Index(train.keys)
    out = []
    for label, frame, claimed in (
        (f"frycast ({s.reconciler})", result.forecasts, "reconciled"),
        ("frycast (base, selected)", result.bottom.forecasts, "base"),
    ):
        bottom = frame[
            (frame["level"] == "restaurant_sku") & frame["reconciled"].eq(claimed == "reconciled")
        ]
        rows = keys.get_indexer(bottom["node_key"].iloc[::h])  # h rows per node
        grids = []
        for col in ("yhat", "yhat_lo80", "yhat_q50", "yhat_hi80"):
            g = np.zeros((train.n_series, h))
            # a series first sold in the held-out days has no base forecast (no history):
            # 0, as the peers' zero-filled series give
            g[rows] = np.nan_to_num(bottom[col].to_numpy().reshape(-1, h))
            grids.append(g)
        yhat, lo, med, hi = grids
        score = _score(dataset, label, split, yhat, lo, med, hi, seconds)
        level = result.summary["levels"]["restaurant_sku"]
        if claimed == "reconciled":
            score.mase_claimed = level["mase_reconciled"]
            score.coverage_claimed = level["coverage_reconciled"]
        else:
            score.mase_claimed = result.bottom.summary["selected"]["mase"]
            score.coverage_claimed = result.bottom.summary["selected"]["coverage_80"]
        source = result.forecasts if claimed == "reconciled" else _base_rows(result)
        score.coverage_by = coverage_by(source, claimed == "reconciled", split)
        out.append(score)
    log.info("%s h=%d: %s", dataset, h, result.bottom.summary["models_chosen"])
    log.info("%s h=%d backtest by level: %s", dataset, h, result.summary["levels"])
    return out


def _solo(dataset: str, split: Holdout, h: int, s: Settings, spec: str) -> Score:
    """``spec`` (a model, or ``model@level``) alone through the engine, scored on the items."""
    name, _, level = spec.partition("@")
    config = EngineConfig(
        horizon=h,
        fold_horizon=h,
        folds=s.backtest_folds,
        fold_step=s.fold_step,
        models=(name,),
        combo=False,
        seed=s.seed,
        n_jobs=s.n_jobs,
        drivers=False,
        model_params={m: s.neural_params() for m in NEURAL_MODELS},
    )
    train = split.train
    started = time.perf_counter()
    if not level:
        result = run_engine(train, config, level_metrics=False, patterns=False)
        grids = [_node_grid(result.forecasts, col, h) for col in _BAND]
    else:
        hier = Hierarchy.from_bottom(train.series, levels_named((level,)))
        result = run_engine(
            aggregate_panel(train, hier), config, level_metrics=False, patterns=False
        )
        share = _item_share(hier, train.y)
        grids = [
            np.asarray(hier.A.T @ _node_grid(result.forecasts, col, h)) * share[:, None]
            for col in _BAND
        ]
    score = _score(dataset, f"{spec} alone", split, *grids, time.perf_counter() - started)
    fits = [f for kind in result.summary["training"].get(name, {}).values() for f in kind]
    if fits:
        score.train_seconds_per_1k = round(
            float(np.mean([f["fit_seconds"] / f["series"] * 1000 for f in fits])), 1
        )
    log.info("%s h=%d %s alone: chosen %s", dataset, h, spec, result.summary["models_chosen"])
    return score


_BAND = ("yhat", "yhat_lo80", "yhat_q50", "yhat_hi80")


def _node_grid(forecasts: pd.DataFrame, col: str, h: int) -> np.ndarray:
    """(node × day) of one column of an engine's forecast (its rows are node by node, in the
    panel's order); a node no model could forecast counts 0, as the peers' zero-filled ones."""
    return np.nan_to_num(forecasts[col].to_numpy(dtype=float).reshape(-1, h))


def _item_share(hier: Hierarchy, y: np.ndarray, days: int = 28) -> np.ndarray:
    """Each item's share of its node's sales over the last ``days`` (equal shares where the
    node sold nothing)."""
    recent = np.nansum(y[:, -days:], axis=1)
    node_total = np.asarray(hier.A @ recent).ravel()
    members = np.asarray(hier.A.sum(axis=1)).ravel()
    total = np.asarray(hier.A.T @ node_total).ravel()
    equal = 1.0 / np.maximum(np.asarray(hier.A.T @ members).ravel(), 1)
    return np.where(total > 0, recent / np.where(total > 0, total, 1.0), equal)


COVERAGE_BUCKETS = ((1, 28), (29, 91), (92, 182), (183, 365))


def _base_rows(result) -> pd.DataFrame:
    """Every level's base (unreconciled) rows: the bottom engine's and the aggregates'."""
    base = result.forecasts[~result.forecasts["reconciled"]]
    if (base["level"] == "restaurant_sku").any():
        return base
    return pd.concat([base, result.bottom.forecasts], ignore_index=True)


def coverage_by(frame: pd.DataFrame, reconciled: bool, split: Holdout) -> dict:
    """Realised 80 % coverage of frycast's bands on the held-out days, per level (the bottom,
    regions, the chain) and horizon bucket: the goal is 0.77-0.83 in every cell."""
    actual = split.actual
    h = actual.shape[1]
    codes, names = pd.factorize(split.regions)
    truth = {
        "restaurant_sku": (pd.Index(split.train.keys), actual),
        "region": (pd.Index(names), _group(actual, codes, len(names))),
        "chain": (pd.Index(["chain"]), _group(actual, np.zeros(len(actual), int), 1)),
    }
    out = {}
    for level, (keys, act) in truth.items():
        rows = frame[(frame["level"] == level) & frame["reconciled"].eq(reconciled)]
        if rows.empty:
            continue
        idx = keys.get_indexer(rows["node_key"])
        day = (pd.to_datetime(rows["forecast_date"]) - split.train.end).dt.days.to_numpy() - 1
        ok = (idx >= 0) & (day >= 0) & (day < h)
        a = act[idx[ok], day[ok]]
        lo, hi = rows["yhat_lo80"].to_numpy()[ok], rows["yhat_hi80"].to_numpy()[ok]
        inside = (a >= lo) & (a <= hi)
        scored = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
        out[level] = {}
        for first, last in COVERAGE_BUCKETS:
            cell = scored & (day[ok] >= first - 1) & (day[ok] <= last - 1)
            if cell.any():
                out[level][f"{first}-{min(last, h)}"] = round(float(inside[cell].mean()), 3)
    return out


def coverage_table(scores: list[Score]) -> str:
    """frycast's realised 80 % coverage per level and horizon bucket (goal 0.77-0.83)."""
    lines = ["| dataset | holdout | method | level | " + " | ".join(
        f"days {a}-{b}" for a, b in COVERAGE_BUCKETS) + " |"]  # fmt: skip
    lines.append("|---" * (4 + len(COVERAGE_BUCKETS)) + "|")
    for x in scores:
        for level, cells in (x.coverage_by or {}).items():
            vals = []
            for a, _ in COVERAGE_BUCKETS:
                key = next((k for k in cells if k.startswith(f"{a}-")), None)
                vals.append(f"{cells[key]:.3f}" if key else "—")
            lines.append(
                f"| {x.dataset} | {x.holdout_days} d | {x.method} | {level} | "
                + " | ".join(vals) + " |"
            )  # fmt: skip
    return "\n".join(lines)


def _claimed(claimed: dict, score: Score) -> Score:
    score.mase_claimed = claimed["mase"]
    score.coverage_claimed = claimed["coverage_80"]
    return score


def claimed_vs_realised(scores: list[Score]) -> str:
    """The figures frycast claimed for a run (its own backtests) next to what the held-out days
    realised."""
    lines = [
        "| dataset | holdout | MASE claimed | MASE realised | coverage 80% claimed "
        "| coverage 80% realised |",
        "|---|---|---|---|---|---|",
    ]
    for x in scores:
        if x.mase_claimed is None:
            continue
        lines.append(
            f"| {x.dataset} | {x.holdout_days} d | {x.mase_claimed:.3f} | {x.mase:.3f} "
            f"| {x.coverage_claimed:.3f} | {x.coverage_80:.3f} |"
        )
    return "\n".join(lines)


def special_days_table(scores: list[Score]) -> str:
    """Bottom-level MASE on public holidays and on closed days only, every method."""
    lines = [
        "| dataset | holdout | method | MASE holidays | MASE closed days |",
        "|---|---|---|---|---|",
    ]
    fmt = lambda v: "—" if np.isnan(v) else f"{v:.3f}"  # noqa: E731
    for x in scores:
        lines.append(
            f"| {x.dataset} | {x.holdout_days} d | {x.method} | {fmt(x.mase_holiday)} "
            f"| {fmt(x.mase_closed)} |"
        )
    return "\n".join(lines)


def format_table(scores: list[Score]) -> str:
    head = (
        "| dataset | holdout | method | MASE all days | MASE open days | region MASE "
        "| chain MASE | bias bottom / region / chain | wQL | coverage 80% | seconds "
        "| vs AutoETS MASE |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ets = {(x.dataset, x.holdout_days): x.mase for x in scores if x.method.startswith("AutoETS")}
    ets |= {  # a solo-only run compares with frycast's AutoETS alone
        (x.dataset, x.holdout_days): x.mase
        for x in scores
        if x.method == "ets alone" and (x.dataset, x.holdout_days) not in ets
    }
    for x in scores:
        rel = x.mase / ets.get((x.dataset, x.holdout_days), np.nan) - 1
        lines.append(
            f"| {x.dataset} | {x.holdout_days} d | {x.method} | {x.mase:.3f} | {x.mase_open:.3f} "
            f"| {x.region_mase:.3f} | {x.chain_mase:.3f} "
            f"| {x.bias_bottom:+.1%} / {x.bias_region:+.1%} / {x.bias_chain:+.1%} "
            f"| {x.wql:.3f} | {x.coverage_80:.3f} | {x.seconds:.0f} | {rel:+.1%} |"
        )
    return "\n".join(lines)


def solo_table(scores: list[Score]) -> str:
    """The models alone: accuracy, bands, wall time and the networks' training cost."""
    lines = [
        "| dataset | holdout | model (alone) | MASE | bias | wQL | coverage 80% | seconds "
        "| training s / 1,000 series per fit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for x in scores:
        if x.method.endswith(" alone"):
            per_1k = "—" if x.train_seconds_per_1k is None else f"{x.train_seconds_per_1k:,.0f}"
            lines.append(
                f"| {x.dataset} | {x.holdout_days} d | {x.method[: -len(' alone')]} "
                f"| {x.mase:.3f} | {x.bias_bottom:+.1%} | {x.wql:.3f} | {x.coverage_80:.3f} "
                f"| {x.seconds:.0f} "
                f"| {per_1k} |"
            )
    return "\n".join(lines)


def write(scores: list[Score], out_dir: Path = RESULTS_DIR, before: int = 0) -> Path:
    rows = [
        {**asdict(x), "mase_realised": x.mase, "coverage_realised": x.coverage_80} for x in scores
    ]
    name = f"accuracy_tuning_{before}d_earlier.json" if before else "accuracy.json"
    return write_results(name, rows, out_dir)
