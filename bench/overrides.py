"""`make bench-overrides`: applying planners' overrides at the medium tier's size, next to the
plain reconciliation of the same forecast, in the same process.

The problem is the reconciliation benchmark's (bench/reconcile.py): frycast's grouped hierarchy
over 100 restaurants × 100 SKUs (11,016 nodes; the medium tier's generated chain has 8,934), base
forecasts of every node for 365 days, 365 residual days per node. In order, timed apart:
1. the plain reconciliation (MinT-shrink, negative bottom forecasts set to 0) of its noisy base
   forecasts — timed as the reference; the statistical forecast the overrides apply to is the
   same reconciliation of base forecasts around each series' level (``--zeros`` takes the noisy
   one instead: most of its small series are clipped to 0 on many days, a stress case for the
   non-negativity);
2. the weights a run stores for later adjustments (MinT-shrink's W, its correlated part kept to
   rank 50);
3. 1,000 overrides (random nodes at every level, ranges of 1 to 28 days across the year, every
   kind, some nested) applied: each held exactly, the hierarchy reconciled around them,
   non-negative (bottom series driven below zero fixed at zero, by elimination).
Peak memory is the process's peak RSS (it includes the problem itself).
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.reconcile import DAYS, problem
from bench.results import RESULTS_DIR, write_results

RESTAURANTS = 100  # × 100 SKUs: the medium tier
OVERRIDES = 1_000


@dataclass
class Result:
    case: str
    n_bottom: int
    n_nodes: int
    days: int
    overrides: int
    reconcile_s: float
    weights_s: float
    apply_s: float
    peak_rss_mb: float
    held: int
    rejected: int
    zeroed_node_days: int
    max_pin_error: float
    coherence_error: float
    min_value: float


def random_overrides(h, y: np.ndarray, n: int, start: date, seed: int = 1) -> pd.DataFrame:
    """``n`` overrides on random nodes of every level over ranges of 1 to 28 days: totals,
    factors and daily units around the statistical forecast (0.6 to 1.6 times it)."""
    rng = np.random.default_rng(seed)
    nodes = h.nodes
    rows = []
    used: dict[int, list[tuple[int, int]]] = {}
    while len(rows) < n:
        j = int(rng.integers(h.n_nodes))
        a = int(rng.integers(DAYS - 28))
        b = a + int(rng.integers(1, 29)) - 1
        if any(a <= e and s <= b for s, e in used.get(j, [])):
            continue  # one node's overrides do not overlap (the warehouse refuses it)
        used.setdefault(j, []).append((a, b))
        kind = ("set_total", "scale", "set_daily")[len(rows) % 3]
        factor = float(rng.uniform(0.6, 1.6))
        stat = y[j, a : b + 1]
        value = {
            "set_total": factor * stat.sum(),
            "scale": factor,
            "set_daily": factor * stat.mean(),
        }[kind]
        rows.append((len(rows) + 1, nodes["level"].iat[j], nodes["node_key"].iat[j],
                     start + timedelta(days=a), start + timedelta(days=b), kind, value,
                     "bench", None))  # fmt: skip
    from ml.overrides import OVERRIDE_COLUMNS

    return pd.DataFrame(rows, columns=OVERRIDE_COLUMNS)


def run(restaurants: int = RESTAURANTS, n: int = OVERRIDES, zeros: bool = False) -> Result:
    from ml.overrides import apply_overrides
    from ml.reconcile.immutable import PIN_TOLERANCE, adjustment_weights
    from ml.reconcile.methods import build_reconciler

    h, base, residuals = problem(restaurants)
    started = time.perf_counter()
    method = build_reconciler("mint_shrink")
    rec = method.reconcile(h, base, residuals=residuals)
    statistical = h.aggregate(np.maximum(rec[h.n_aggregate :], 0.0))
    reconcile_s = time.perf_counter() - started
    if not zeros:  # expected values, as the engine forecasts: positive but on closed days
        level = h.aggregate(np.abs(base[h.n_aggregate :]).mean(axis=1, keepdims=True) + 0.1)
        smooth = level * np.random.default_rng(2).lognormal(0, 0.1, size=base.shape)
        rec = method.reconcile(h, smooth, residuals=residuals)
        statistical = h.aggregate(np.maximum(rec[h.n_aggregate :], 0.0))

    started = time.perf_counter()
    W = adjustment_weights(h, residuals)
    weights_s = time.perf_counter() - started

    first = date(2027, 1, 1)
    dates = pd.date_range(first, periods=DAYS)
    overrides = random_overrides(h, statistical, n, first)
    bands = (statistical, 0.8 * statistical, 1.2 * statistical)
    started = time.perf_counter()
    out = apply_overrides(h, W, dates, statistical, bands, overrides, first)
    apply_s = time.perf_counter() - started

    # every held override's node-days hold their numbers
    held = out.outcomes[out.outcomes["applied"]]
    pins = out.pinned
    worst = 0.0
    if pins.any():
        # the pinned values are the overrides' targets: derived again for the check
        from ml.overrides import override_targets

        index = h.node_index()
        day_of = {d.date(): i for i, d in enumerate(dates)}
        for o in overrides[overrides.override_id.isin(held.override_id)].itertuples():
            j = index[(o.level, o.node_key)]
            cols = [day_of[d] for d in pd.date_range(o.date_from, o.date_to).date]
            t = override_targets(o.kind, o.value, statistical[j, cols])
            worst = max(worst, float(np.max(np.abs(out.yhat[j, cols] - t) / np.maximum(t, 1))))
    adjusted = out.adjusted
    result = Result(
        "zero-heavy" if zeros else "expected values",
        h.n_bottom,
        h.n_nodes,
        DAYS,
        n,
        round(reconcile_s, 2),
        round(weights_s, 2),
        round(apply_s, 2),
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        len(held),
        int((~out.outcomes["applied"]).sum()),
        adjusted.zeroed if adjusted else 0,
        worst,
        h.coherence_error(out.yhat),
        float(out.yhat.min()),
    )
    assert worst <= PIN_TOLERANCE, worst
    return result


def format_table(r: Result) -> str:
    return "\n".join(
        [
            f"| statistical forecast | nodes × days | plain reconciliation | weights (rank 50) | "
            f"{r.overrides:,} overrides applied | peak RSS MB | held / rejected | bottom node-days "
            "fixed at 0 | max pin error | coherence error |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {r.case} | {r.n_nodes:,} × {r.days} | {r.reconcile_s:.1f} s | "
            f"{r.weights_s:.1f} s | {r.apply_s:.1f} s | {r.peak_rss_mb:,.0f} | "
            f"{r.held} / {r.rejected} | "
            f"{r.zeroed_node_days:,} | {r.max_pin_error:.1e} | {r.coherence_error:.1e} |",
        ]
    )


def write(r: Result, out_dir: Path = RESULTS_DIR) -> Path:
    return write_results(f"overrides_{r.case.replace(' ', '_')}.json", asdict(r), out_dir)
