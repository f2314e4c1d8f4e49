"""`make bench-accuracy`: frycast's selected forecast against seasonal naive and statsforecast's
AutoETS on held-out days, all on the same split in the same process.

Datasets: the real London takeaway export (imported through `frycast import orders`, built by dbt)
and the synthetic demo tier. For each holdout (the last 28 days, and the last 365), frycast runs
its whole engine on the days before (backtest, selection, calibration), and every method is scored
on the held-out days: bottom-level MASE (mean over series, scaled by the in-sample seasonal naive),
chain-total MASE, pooled wQL and pooled 80% coverage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from frycast.benchmarks import RESULTS_DIR, fresh_database, write_results
from frycast.dbt import run_dbt
from frycast.panel_io import load_panel
from frycast.settings import PROJECT_ROOT, Settings, get_settings
from ingest.generator import ChainSpec
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from ml.engine import EngineConfig, pooled_interval_scores, run_engine
from ml.metrics import mase, seasonal_naive_scale
from ml.panel import Panel, fill_closed_days

log = logging.getLogger(__name__)
LONDON = PROJECT_ROOT.parent / "shared" / "data" / "london_takeaway"


@dataclass
class Score:
    dataset: str
    holdout_days: int
    method: str
    mase: float
    chain_mase: float
    wql: float
    coverage_80: float
    n_series: int
    seconds: float
    # frycast only: what the run claimed for its selected forecast (its own backtests, before
    # the holdout) beside what the holdout realised (mase, coverage_80 above)
    mase_claimed: float | None = None
    coverage_claimed: float | None = None

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
        seed(url, ChainSpec.for_tier("demo"))
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], url)
    if not result.success:
        raise RuntimeError("dbt build failed:\n" + "\n".join(result.failures))
    return url


def _score(
    dataset: str,
    h: int,
    method: str,
    train: Panel,
    actual: np.ndarray,
    yhat: np.ndarray,
    lo: np.ndarray,
    med: np.ndarray,
    hi: np.ndarray,
    seconds: float,
) -> Score:
    scale = seasonal_naive_scale(train.y)
    per_series = mase(actual, yhat, scale)
    chain_actual = np.where((~np.isnan(actual)).any(axis=0), np.nansum(actual, axis=0), np.nan)
    chain_scale = seasonal_naive_scale(np.nansum(train.y, axis=0))
    pooled = pooled_interval_scores(actual, lo, med, hi)
    return Score(
        dataset,
        h,
        method,
        mase=float(np.nanmean(per_series)),
        chain_mase=float(mase(chain_actual, yhat.sum(axis=0), chain_scale)),
        wql=pooled["wql"],
        coverage_80=pooled["coverage_80"],
        n_series=int(np.isfinite(per_series).sum()),
        seconds=round(seconds, 1),
    )


def _statsforecast(train: Panel, h: int, model: str, n_jobs: int) -> tuple[np.ndarray, ...]:
    """AutoETS or SeasonalNaive from statsforecast, off the shelf, with its own 80% intervals."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    y = fill_closed_days(train.y)
    frames = []
    for i in range(train.n_series):
        keep = ~np.isnan(y[i])
        if keep.sum() < 2:
            keep = np.ones_like(keep)
            y[i] = np.nan_to_num(y[i])
        frames.append(pd.DataFrame({"unique_id": i, "ds": train.dates[keep], "y": y[i][keep]}))
    df = pd.concat(frames, ignore_index=True)
    m = AutoETS(season_length=7) if model == "ets" else SeasonalNaive(season_length=7)
    sf = StatsForecast(models=[m], freq="D", n_jobs=n_jobs, fallback_model=SeasonalNaive(7))
    out = sf.forecast(df=df, h=h, level=[80]).sort_values(["unique_id", "ds"])
    name = "AutoETS" if model == "ets" else "SeasonalNaive"
    grid = lambda col: np.maximum(out[col].to_numpy().reshape(train.n_series, h), 0.0)  # noqa: E731
    point = grid(name)
    return point, grid(f"{name}-lo-80"), point, grid(f"{name}-hi-80")


def run(
    server_url: str,
    datasets=("london", "demo"),
    holdouts=(28, 365),
    settings: Settings | None = None,
) -> list[Score]:
    s = settings or get_settings()
    scores = []
    for dataset in datasets:
        url = prepare(server_url, dataset)
        panel = load_panel(url, horizon=max(holdouts))
        n = len(panel.dates)
        for h in holdouts:
            train = panel.truncate(n - 1 - h)
            actual = panel.y[:, n - h :]
            config = EngineConfig(
                horizon=h,
                fold_horizon=h,
                folds=s.backtest_folds,
                fold_step=s.fold_step,
                models=s.model_names,
                seed=s.seed,
                n_jobs=s.n_jobs,
            )
            started = time.perf_counter()
            result = run_engine(train, config)
            f = result.forecasts
            shape = (train.n_series, h)
            claimed = result.summary["selected"]
            scores.append(
                _claimed(
                    claimed,
                    _score(
                        dataset,
                        h,
                        "frycast (selected)",
                        train,
                        actual,
                        f["yhat"].to_numpy().reshape(shape),
                        f["yhat_lo80"].to_numpy().reshape(shape),
                        f["yhat_q50"].to_numpy().reshape(shape),
                        f["yhat_hi80"].to_numpy().reshape(shape),
                        time.perf_counter() - started,
                    ),
                )
            )
            for method, label in (
                ("snaive", "seasonal naive (statsforecast)"),
                ("ets", "AutoETS (statsforecast)"),
            ):
                started = time.perf_counter()
                preds = _statsforecast(train, h, method, s.n_jobs)
                scores.append(
                    _score(
                        dataset,
                        h,
                        label,
                        train,
                        actual,
                        *preds,
                        seconds=time.perf_counter() - started,
                    )
                )
            log.info("%s h=%d: %s", dataset, h, result.summary["models_chosen"])
    return scores


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


def format_table(scores: list[Score]) -> str:
    head = (
        "| dataset | holdout | method | MASE | chain MASE | wQL | coverage 80% | vs AutoETS MASE |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    ets = {(x.dataset, x.holdout_days): x.mase for x in scores if x.method.startswith("AutoETS")}
    for x in scores:
        rel = x.mase / ets[(x.dataset, x.holdout_days)] - 1
        lines.append(
            f"| {x.dataset} | {x.holdout_days} d | {x.method} | {x.mase:.3f} | {x.chain_mase:.3f} "
            f"| {x.wql:.3f} | {x.coverage_80:.3f} | {rel:+.1%} |"
        )
    return "\n".join(lines)


def write(scores: list[Score], out_dir: Path = RESULTS_DIR) -> Path:
    rows = [
        {**asdict(x), "mase_realised": x.mase, "coverage_realised": x.coverage_80} for x in scores
    ]
    return write_results("accuracy.json", rows, out_dir)
