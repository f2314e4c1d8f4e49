"""`make bench-reconcile`: time and peak memory of every reconciler at 10 k, 20 k and 100 k bottom
series × 365 days, next to hierarchicalforecast's dense MinTrace where it fits in memory.

Each (size, method) runs in a fresh process that first builds the same seeded problem (frycast's
grouped hierarchy over restaurants × 100 SKUs, base forecasts of every node that do not add up,
365 residual days per node), then times the method alone. Peak memory is the child's peak RSS;
"before" is its RSS once the problem is built, so the difference is what the method itself needs.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import RESULTS_DIR, write_results

SIZES = {"10k": 100, "20k": 200, "100k": 1000}  # restaurants, each selling 100 SKUs
SKUS = 100
DAYS = 365
RESIDUAL_DAYS = 365
FRYCAST_METHODS = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink", "mint_shrink_nonneg")
REFERENCE_METHODS = ("hf_ols", "hf_mint_shrink")
REFERENCE_MAX_BOTTOM = 10_000  # dense n × n matrices: 4.8 GB at 10 k, 17.9 GB at 20 k


@dataclass
class Timing:
    size: str
    n_bottom: int
    n_nodes: int
    method: str
    seconds: float | None
    peak_rss_mb: float
    before_rss_mb: float
    negatives: int | None = None
    max_rel_diff_vs_reference: float | None = None
    coherence_error: float | None = None
    note: str = ""


def problem(restaurants: int, seed: int = 0):
    """The hierarchy, base forecasts (n_nodes × DAYS) and residuals (RESIDUAL_DAYS × n_nodes)."""
    from ml.reconcile.hierarchy import Hierarchy

    rng = np.random.default_rng(seed)
    r = np.repeat(np.arange(restaurants), SKUS)
    s = np.tile(np.arange(SKUS), restaurants)
    bottom = pd.DataFrame(
        {
            "restaurant_id": [f"R{i:04d}" for i in r],
            "sku_id": [f"S{j:03d}" for j in s],
            "region": [f"region{i % 7}" for i in r],
            "product_group": [f"group{j % 8}" for j in s],
        }
    )
    h = Hierarchy.from_bottom(bottom)
    level = rng.gamma(1.5, 4.0, size=h.n_bottom)  # many small, intermittent-ish series
    truth = h.aggregate(np.repeat(level[:, None], DAYS, axis=1))
    sd = np.sqrt(truth[:, :1]) + 0.5
    base = (
        truth * rng.normal(1.0, 0.05, size=(h.n_nodes, 1))
        + rng.normal(0, 1, size=(h.n_nodes, DAYS)) * sd
    )
    # residuals with a common (chain-wide) factor, so the covariance is not diagonal
    common = rng.normal(size=(RESIDUAL_DAYS, 1))
    residuals = (rng.normal(size=(RESIDUAL_DAYS, h.n_nodes)) + 0.5 * common) * sd.T
    return h, base, residuals


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(size: str, method: str, out: mp.Queue) -> None:
    h, base, residuals = problem(SIZES[size])
    before = _current_rss_mb()
    started = time.perf_counter()
    negatives = None
    if method.startswith("hf_"):
        from hierarchicalforecast.methods import MinTrace

        S = h.S.toarray()
        y_in = np.zeros((h.n_nodes, RESIDUAL_DAYS))
        rec = MinTrace(method=method[3:]).fit_predict(
            S=S, y_hat=base, y_insample=y_in + residuals.T, y_hat_insample=y_in
        )["mean"]
    else:
        from ml.reconcile.methods import build_reconciler

        name = method.removesuffix("_nonneg")
        rec = build_reconciler(name).reconcile(h, base, residuals=residuals)
        bottom = rec[h.n_aggregate :]
        negatives = int((bottom < 0).sum())
        if method.endswith("_nonneg"):  # set negative bottom forecasts to 0, re-sum the rest
            rec = h.aggregate(np.maximum(bottom, 0.0))
    seconds = time.perf_counter() - started
    np.save(f"/tmp/frycast_bench_reconcile_{size}_{method}.npy", rec[:, :7])
    out.put(
        Timing(
            size,
            h.n_bottom,
            h.n_nodes,
            method,
            round(seconds, 2),
            round(_rss_mb(), 0),
            round(before, 0),
            negatives,
            coherence_error=h.coherence_error(rec),
        )
    )


def measure(size: str, method: str) -> Timing:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(size, method, q))
    p.start()
    p.join()
    if p.exitcode != 0:
        n = SIZES[size] * SKUS
        return Timing(
            size, n, 0, method, None, float("nan"), float("nan"), note=f"exit {p.exitcode}"
        )
    return q.get()


def run(sizes=tuple(SIZES), reference: bool = True) -> list[Timing]:
    results = []
    for size in sizes:
        methods = list(FRYCAST_METHODS)
        if reference and SIZES[size] * SKUS <= REFERENCE_MAX_BOTTOM:
            methods += list(REFERENCE_METHODS)
        for method in methods:
            t = measure(size, method)
            results.append(t)
            print(f"{size} {method}: {t.seconds} s, peak {t.peak_rss_mb:.0f} MB", flush=True)
        # frycast against the reference, on the same problem
        for ours, ref in (("ols", "hf_ols"), ("mint_shrink", "hf_mint_shrink")):
            a = Path(f"/tmp/frycast_bench_reconcile_{size}_{ours}.npy")
            b = Path(f"/tmp/frycast_bench_reconcile_{size}_{ref}.npy")
            if a.exists() and b.exists() and ref in methods:
                x, y = np.load(a), np.load(b)
                diff = float(np.max(np.abs(x - y)) / np.max(np.abs(y)))
                for t in results:
                    if t.size == size and t.method in (ours, ref):
                        t.max_rel_diff_vs_reference = diff
    return results


def format_table(results: list[Timing]) -> str:
    ref = {
        (t.size, t.method.removeprefix("hf_")): t.seconds
        for t in results
        if t.method.startswith("hf_") and t.seconds
    }
    lines = [
        "| bottom series | nodes | method | seconds | peak RSS MB | method's own MB | "
        "vs hierarchicalforecast | max rel. diff vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in results:
        speedup = ""
        if not t.method.startswith("hf_") and (t.size, t.method) in ref and t.seconds:
            speedup = f"{ref[(t.size, t.method)] / t.seconds:.0f}× faster"
        diff = "" if t.max_rel_diff_vs_reference is None else f"{t.max_rel_diff_vs_reference:.1e}"
        name = t.method.replace("hf_", "hierarchicalforecast ")
        secs = "—" if t.seconds is None else f"{t.seconds:.2f}"
        lines.append(
            f"| {t.n_bottom:,} | {t.n_nodes:,} | {name} | {secs} | {t.peak_rss_mb:,.0f} | "
            f"{t.peak_rss_mb - t.before_rss_mb:,.0f} | {speedup} | {diff} |"
        )
    return "\n".join(lines)


def write(results: list[Timing], out_dir: Path = RESULTS_DIR) -> Path:
    return write_results("reconcile.json", [asdict(t) for t in results], out_dir)
