"""`frycast bench peer --tier medium`: frycast beside a peer pipeline on the same data and split.

The peer is what a team would assemble from Nixtla's libraries: hierarchicalforecast's
``aggregate`` builds every node of the same grouped hierarchy from the bottom series,
statsforecast's ``AutoETS`` (weekly season) forecasts every node with its fitted values, and
hierarchicalforecast's ``MinTrace(method="mint_shrink")`` reconciles them. frycast runs its own
engine (backtests, selection, calibrated intervals) and MinT-shrink on the same training days.

Both start from the same panel, read from a freshly built warehouse (the read is timed once and
reported apart), forecast the same held-out days, and are scored against the same truth: MASE per
node (scaled by the node's in-sample seasonal naive, m = 7), averaged per level, plus the mean
over levels.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from bench.results import write_results
from ml.engine import EngineConfig
from ml.metrics import mase, seasonal_naive_scale
from ml.panel import Panel, fill_closed_days
from ml.reconcile.hierarchy import FRYCAST_BOTTOM, HIERARCHY_COLUMNS, HIERARCHY_LEVELS, Hierarchy

# hierarchicalforecast's spec for frycast's levels: each level's columns under a "chain" column.
# The bottom level must name every column (region follows the restaurant, product group the SKU).
PEER_SPEC = {
    name: ["chain", *(HIERARCHY_COLUMNS if name == FRYCAST_BOTTOM[0] else columns)]
    for name, columns in HIERARCHY_LEVELS
}
FRYCAST_MODELS = ("snaive", "weekday_mean", "lightgbm", "xgboost")


@dataclass
class PeerBenchmark:
    tier: str
    holdout_days: int
    train_days: int
    bottom_series: int
    nodes: int
    read_seconds: float
    frycast_seconds: float
    peer_seconds: float
    peer_parts: dict
    speedup: float
    mase: dict  # level -> {"frycast": .., "peer": ..}
    frycast_config: dict
    versions: dict
    command: str
    notes: list[str] = field(default_factory=list)


def frycast_forecast(train: Panel, h: int, config: EngineConfig) -> tuple[Hierarchy, np.ndarray]:
    """frycast's reconciled forecasts of every node, in the hierarchy's node order."""
    from ml.hierarchical import run_hierarchical

    result = run_hierarchical(train, config, reconciler="mint_shrink")
    rec = result.forecasts[result.forecasts["reconciled"]]
    grid = rec["yhat"].to_numpy(dtype=float).reshape(-1, h)
    return result.hierarchy, grid


def peer_forecast(train: Panel, h: int, n_jobs: int) -> tuple[pd.DataFrame, dict]:
    """AutoETS for every node and MinT-shrink, as hierarchicalforecast's examples assemble them.

    Returns the reconciled forecasts (unique_id, ds, value) and the time of each part."""
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import MinTrace
    from hierarchicalforecast.utils import aggregate
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    parts = {}
    started = time.perf_counter()
    bottom = _bottom_frame(train)
    spec = list(PEER_SPEC.values())
    Y_df, S_df, tags = aggregate(bottom, spec)
    parts["aggregate"] = time.perf_counter() - started

    started = time.perf_counter()
    sf = StatsForecast(
        models=[AutoETS(season_length=7)],
        freq="D",
        n_jobs=n_jobs,
        fallback_model=SeasonalNaive(season_length=7),
    )
    Y_hat = sf.forecast(df=Y_df, h=h, fitted=True)
    fitted = sf.forecast_fitted_values()
    parts["autoets"] = time.perf_counter() - started

    started = time.perf_counter()
    reconciled = HierarchicalReconciliation(reconcilers=[MinTrace(method="mint_shrink")]).reconcile(
        Y_hat_df=Y_hat, Y_df=fitted, S_df=S_df, tags=tags
    )
    parts["mint_shrink"] = time.perf_counter() - started
    column = next(c for c in reconciled.columns if c.startswith("AutoETS/MinTrace"))
    out = reconciled[["unique_id", "ds", column]].rename(columns={column: "yhat"})
    return out, {k: round(v, 1) for k, v in parts.items()}


def _bottom_frame(train: Panel) -> pd.DataFrame:
    """The bottom series as hierarchicalforecast wants them: long, with the level columns.

    AutoETS needs unbroken series: closed days take the same weekday of an earlier week (as
    frycast's statistical models do) and days before an item's launch are left out."""
    y = fill_closed_days(train.y)
    s = train.series
    rows, days = np.nonzero(~np.isnan(y))
    return pd.DataFrame(
        {
            "chain": "chain",
            **{c: s[c].to_numpy()[rows] for c in HIERARCHY_COLUMNS},
            "ds": train.dates[days],
            "y": y[rows, days],
        }
    )


def peer_grid(h: Hierarchy, reconciled: pd.DataFrame, horizon: int) -> np.ndarray:
    """The peer's forecasts in frycast's node order (its ids join the level's spec columns with
    "/": ``chain/<region>``, ``chain/<restaurant>/<product group>``, …)."""
    nodes = h.nodes.assign(chain="chain")
    keys = pd.Series("", index=nodes.index)
    for level, columns in PEER_SPEC.items():
        rows = nodes["level"] == level
        keys[rows] = nodes.loc[rows, columns].astype(str).agg("/".join, axis=1)
    wide = reconciled.pivot(index="unique_id", columns="ds", values="yhat")
    missing = set(keys) - set(wide.index)
    if missing:
        raise ValueError(f"{len(missing)} nodes have no peer forecast, e.g. {sorted(missing)[:3]}")
    return wide.reindex(keys.to_numpy()).to_numpy(dtype=float)[:, :horizon]


def score(h: Hierarchy, train: Panel, actual: np.ndarray, forecasts: dict[str, np.ndarray]) -> dict:
    """Mean MASE per level (and over levels) of each method, against the same truth and scale."""
    truth = h.aggregate_observed(actual)
    scale = seasonal_naive_scale(h.aggregate_observed(train.y))
    per_node = {name: mase(truth, pred, scale) for name, pred in forecasts.items()}
    out = {}
    for level, rows in h.level_slices().items():
        out[level] = {name: float(np.nanmean(m[rows])) for name, m in per_node.items()}
    out["mean over levels"] = {
        name: float(np.mean([out[level][name] for level in h.level_slices()])) for name in forecasts
    }
    return out


def run(
    tier: str,
    server_url: str,
    holdout: int = 91,
    models: tuple[str, ...] = FRYCAST_MODELS,
    n_jobs: int = 2,
    spec=None,  # a ChainSpec instead of the tier's (the tests' small chain)
) -> PeerBenchmark:
    from importlib.metadata import version

    from bench.results import fresh_database
    from ingest.generator import ChainSpec, build_chain
    from ingest.seed import load_chain
    from warehouse.db import apply_infra
    from warehouse.dbt import run_dbt
    from warehouse.panel_io import load_panel

    url = fresh_database(server_url, f"frycast_bench_peer_{tier}")
    apply_infra(url)
    load_chain(url, build_chain(spec or ChainSpec.for_tier(tier)))
    if not run_dbt(["build", "--exclude", "source:forecast+"], url).success:
        raise RuntimeError("dbt build failed")
    started = time.perf_counter()
    panel = load_panel(url, horizon=holdout)
    read_s = time.perf_counter() - started
    n = len(panel.dates)
    train = panel.truncate(n - 1 - holdout)
    actual = panel.y[:, n - holdout :]
    config = EngineConfig(
        horizon=holdout,
        fold_horizon=holdout,
        folds=3,
        fold_step=None,  # frycast's default: non-overlapping where the history allows
        models=tuple(models),
        n_jobs=n_jobs,
    )

    started = time.perf_counter()
    h, ours = frycast_forecast(train, holdout, config)
    frycast_s = time.perf_counter() - started

    started = time.perf_counter()
    reconciled, parts = peer_forecast(train, holdout, n_jobs)
    peer_s = time.perf_counter() - started
    theirs = peer_grid(h, reconciled, holdout)

    return PeerBenchmark(
        tier=tier,
        holdout_days=holdout,
        train_days=len(train.dates),
        bottom_series=h.n_bottom,
        nodes=h.n_nodes,
        read_seconds=round(read_s, 1),
        frycast_seconds=round(frycast_s, 1),
        peer_seconds=round(peer_s, 1),
        peer_parts=parts,
        speedup=round(peer_s / frycast_s, 2),
        mase=score(h, train, actual, {"frycast": ours, "peer": theirs}),
        frycast_config=config.to_json(),
        versions={
            "python": platform.python_version(),
            **{
                p: version(p)
                for p in ("statsforecast", "hierarchicalforecast", "lightgbm", "xgboost-cpu")
            },
        },
        command=" ".join(["frycast", *sys.argv[1:]]),
        notes=[
            f"levels: {', '.join(name for name, _ in HIERARCHY_LEVELS)}",
            "the warehouse read (load_panel) is common to both and reported apart",
        ],
    )


def write(result: PeerBenchmark):
    return write_results(f"peer-{result.tier}.json", asdict(result))


def format_report(r: PeerBenchmark) -> str:
    lines = [
        f"tier {r.tier}: {r.bottom_series:,} bottom series, {r.nodes:,} nodes; train"
        f" {r.train_days} days, forecast the next {r.holdout_days}",
        f"wall time: frycast {r.frycast_seconds:,.0f} s, peer {r.peer_seconds:,.0f} s"
        f" ({', '.join(f'{k} {v:,.0f} s' for k, v in r.peer_parts.items())});"
        f" frycast {r.speedup:.1f}× faster (warehouse read, common: {r.read_seconds:.0f} s)",
        "",
        "| level | frycast MASE | peer MASE (AutoETS + MinT-shrink) | frycast vs peer |",
        "|---|---|---|---|",
    ]
    for level, v in r.mase.items():
        rel = v["frycast"] / v["peer"] - 1
        lines.append(f"| {level} | {v['frycast']:.3f} | {v['peer']:.3f} | {rel:+.1%} |")
    lines.append(f"command: {r.command}")
    return "\n".join(lines)
