"""Drift statistics: is a published forecast still right, now that actuals arrive?

For one node, on the days after its forecast origin that have actuals: the served forecast's
error against what its backtests promised (MASE ratio), the bias, the 80 % interval coverage, and
how far the distribution of daily units moved from the last 365 days of training (PSI, and a
two-sample Kolmogorov–Smirnov test, which unlike PSI accounts for how few new days there are). A
node drifts when, with enough new days, its error is well above its backtest error, or it is
biased, or its interval fails, or its distribution moved while its error grew. Arrays in, a row
out: the flow (``flows/drift.py``) reads the mart and writes the rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom, ks_2samp

MIN_DAYS = 7
ERROR_RATIO = 1.5  # new MASE over backtest MASE
BIAS = 0.25  # |mean(actual - forecast)| / mean(actual)
PSI_DRIFT = 0.25
PSI_MIN_DAYS = 56  # PSI over 10 bins is noise below this (≈ 9 / n for identical distributions)
KS_PVALUE = 0.001  # two-sample Kolmogorov–Smirnov: sample-size aware, used at any length
INPUT_SHIFT_ERROR_RATIO = 1.2  # an input shift counts as drift when the error grew this much
COVERAGE_FLOOR = 0.5
COVERAGE_PVALUE = 1e-4  # P(this few days inside | a calibrated 80 % interval)


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (deciles of expected)."""
    expected, actual = expected[~np.isnan(expected)], actual[~np.isnan(actual)]
    if expected.size < bins or actual.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return 0.0 if np.allclose(actual, expected[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / expected.size
    a = np.histogram(actual, edges)[0] / actual.size
    e, a = np.maximum(e, 1e-4), np.maximum(a, 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class NodeDrift:
    n_days: int
    mae: float
    backtest_mae: float | None
    error_ratio: float
    bias: float
    coverage_80: float
    psi: float
    ks_pvalue: float
    drifted: bool
    reasons: str | None


def node_drift(
    actual: np.ndarray,
    yhat: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    history: np.ndarray,
    scale: float,
    backtest_mase: float | None,
) -> NodeDrift | None:
    """One node's drift on its new days (``actual`` NaN where none arrived yet), against its
    last year of training (``history``), its seasonal-naive scale and its backtest MASE; None
    when no new day has an actual."""
    ok = ~np.isnan(actual)
    n = int(ok.sum())
    if n == 0:
        return None
    a, f, lo, hi = actual[ok], yhat[ok], lo[ok], hi[ok]
    mae = float(np.mean(np.abs(a - f)))
    new_mase = mae / scale if scale > 0 else np.nan
    ratio = new_mase / backtest_mase if backtest_mase and backtest_mase > 0 else np.nan
    bias = float(np.mean(a - f) / np.mean(a)) if np.mean(a) > 0 else np.nan
    cover = float(np.mean((a >= lo) & (a <= hi)))
    stability = psi(history, a)
    history = history[~np.isnan(history)]
    ks_p = float(ks_2samp(history, a).pvalue) if history.size >= MIN_DAYS else float("nan")
    reasons, notes = [], []
    if n >= MIN_DAYS:
        resid = a - f
        sd = resid.std(ddof=1)
        t_stat = resid.mean() / (sd / np.sqrt(n)) if sd > 0 else 0.0
        if ratio == ratio and ratio > ERROR_RATIO:
            reasons.append(f"error {ratio:.1f}× its backtest error")
        # a bias must be large *and* clear of the day-to-day noise (|t| > 3)
        if bias == bias and abs(bias) > BIAS and abs(t_stat) > 3:
            reasons.append(f"bias {bias:+.0%}")
        # under-coverage must be unlikely for a calibrated 80% interval, not just low
        covered = int(round(cover * n))
        if cover < COVERAGE_FLOOR and binom.cdf(covered, n, 0.8) < COVERAGE_PVALUE:
            reasons.append(f"80% interval covers {cover:.0%}")
        # input shift alone is often just the season: it counts when the error grew too
        if n >= PSI_MIN_DAYS and stability == stability and stability > PSI_DRIFT:
            notes.append(f"PSI {stability:.2f}")
        if ks_p == ks_p and ks_p < KS_PVALUE:
            notes.append(f"units distribution moved (KS p = {ks_p:.1e})")
        if notes and ratio == ratio and ratio > INPUT_SHIFT_ERROR_RATIO:
            reasons.extend(notes)
            notes = []
    drifted = bool(reasons)
    reasons = reasons + [f"(input shift, forecast still fine: {x})" for x in notes]
    return NodeDrift(
        n,
        mae,
        backtest_mase * scale if backtest_mase else None,
        ratio,
        bias,
        cover,
        stability,
        ks_p,
        drifted,
        "; ".join(reasons) or None,
    )


COLUMNS = (
    "level",
    "node_key",
    "window_start",
    "window_end",
    *NodeDrift.__dataclass_fields__,
)


def drift_table(
    served: pd.DataFrame, history: dict, scale: dict, promised: dict[tuple[str, str], float]
) -> pd.DataFrame:
    """Every node's drift: ``served`` holds the published forecast beside the actuals that
    arrived (level, node_key, forecast_date, yhat, yhat_lo80, yhat_hi80, actual); ``history``
    and ``scale`` each node's last training year and seasonal-naive scale, by (level, node_key);
    ``promised`` its backtest MASE. Nodes missing from ``history`` are not in the hierarchy
    any more (an item gone since) and are left out."""
    rows = []
    for (level, key), days in served.groupby(["level", "node_key"], sort=True):
        if (level, key) not in history:
            continue
        d = node_drift(
            days["actual"].to_numpy(dtype=float),
            days["yhat"].to_numpy(dtype=float),
            days["yhat_lo80"].to_numpy(dtype=float),
            days["yhat_hi80"].to_numpy(dtype=float),
            history[(level, key)],
            scale[(level, key)],
            promised.get((level, key)),
        )
        if d is not None:
            start, end = days["forecast_date"].min(), days["forecast_date"].max()
            rows.append((level, key, start, end, *asdict(d).values()))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summarise(frame: pd.DataFrame, check_id: int, run_id: int) -> dict:
    """What the flow reports and the triage agent reads: how many nodes drifted, per level."""
    by_level = frame.groupby("level")["drifted"].agg(["sum", "count"])
    bottom = by_level.loc["restaurant_sku"] if "restaurant_sku" in by_level.index else None
    share = float(bottom["sum"] / bottom["count"]) if bottom is not None else 0.0
    drifted = frame[frame["drifted"]]
    summary = (
        f"drift check {check_id} of run {run_id}: {len(drifted)} of {len(frame)} nodes drifted "
        f"over {frame['n_days'].max()} new days"
        + (
            "; "
            + ", ".join(
                f"{lvl} {int(r['sum'])}/{int(r['count'])}" for lvl, r in by_level.iterrows()
            )
            if len(drifted)
            else ""
        )
    )
    return {
        "check_id": int(check_id),
        "run_id": run_id,
        "drifted": int(len(drifted)),
        "bottom_share": share,
        "drifted_nodes": drifted[["level", "node_key", "reasons"]].head(50).to_dict("records"),
        "summary": summary,
    }
