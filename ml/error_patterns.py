"""Where a run's backtest errors sit: by horizon bucket, weekday, holiday and promotion, per level
and model, on the same out-of-sample cells for every model compared.

The metric reviewer reads accuracy by horizon against seasonal naive; the feature advisor reads
the residual patterns (a served forecast that under-sells every holiday wants a holiday feature).
Only sums are kept, so any ratio can be formed later and pooled further:

- ``actual_units`` Σy, ``abs_error`` Σ|ŷ - y|, ``bias`` Σ(ŷ - y): WAPE is abs_error / actual_units,
  bias in % is bias / actual_units;
- ``scaled_error`` Σ|ŷ - y| / s, with s the in-sample seasonal-naive MAE of the cell's node at its
  fold's origin: scaled_error / n_obs is MASE pooled over the bucket's cells.

A cell counts when its actual, every compared model's forecast and its scale are known, so the
models are compared on exactly the same node-days (the served forecast is NaN on the folds the
nested protocol does not score: those days are no model's).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ml.intervals import BUCKETS, bucket_labels

PATTERN_COLUMNS = [
    "level",
    "model",
    "dimension",
    "bucket",
    "bucket_order",
    "n_obs",
    "n_nodes",
    "actual_units",
    "abs_error",
    "bias",
    "scaled_error",
]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DIMENSIONS = {  # dimension -> its buckets, in order
    "horizon": tuple(bucket_labels()),
    "weekday": WEEKDAYS,
    "holiday": ("holiday", "other day"),
    "promotion": ("promotion", "no promotion"),
}
# (feature name, days as indices of all_dates) -> that feature for every node on those days, or
# None where the nodes do not have it
KnownFn = Callable[[str, np.ndarray], np.ndarray | None]


def _horizon_codes(h: int) -> np.ndarray:
    day = np.arange(1, h + 1)
    codes = np.full(h, -1)
    for k, bucket in enumerate(BUCKETS):
        a, b = bucket
        codes[(day >= a) & ((day <= b) if b else True)] = k
    return codes


def error_patterns(
    actuals: np.ndarray,
    forecasts: dict[str, np.ndarray],
    scales: np.ndarray,
    levels: dict[str, np.ndarray],
    dates: pd.DatetimeIndex,
    origins: list[int],
    known: KnownFn | None = None,
) -> pd.DataFrame:
    """Sums of errors per level, model, dimension and bucket (``PATTERN_COLUMNS``); a level's
    ``n_nodes`` is how many of its nodes had a cell in the bucket.

    Args:
        actuals: (fold, node, day) scored actuals, NaN where none.
        forecasts: model -> (fold, node, day) backtest forecasts, NaN where not scored.
        scales: (fold, node) seasonal-naive MAE of each node's training days.
        levels: level -> row indices of its nodes.
        dates: the calendar the origins index (a panel's ``all_dates``).
        origins: each fold's last training day, as an index of ``dates``.
        known: the nodes' known-ahead features, for the holiday and promotion buckets.
    """
    n_f, n_nodes, h = actuals.shape
    names = list(forecasts)
    sums: dict[tuple, np.ndarray] = {}  # (level, model, dim) -> (buckets, 5 sums)
    seen: dict[tuple, np.ndarray] = {}  # (level, dim) -> (buckets, nodes) any cell counted
    horizon = _horizon_codes(h)
    for i, origin in enumerate(origins):
        days = np.arange(origin + 1, origin + 1 + h)
        scale = scales[i][:, None]
        ok = np.isfinite(actuals[i]) & np.isfinite(scale) & (scale > 0)
        for name in names:
            ok &= np.isfinite(forecasts[name][i])
        if not ok.any():
            continue
        codes = {
            "horizon": np.broadcast_to(horizon, (n_nodes, h)),
            "weekday": np.broadcast_to(dates[days].dayofweek.to_numpy(), (n_nodes, h)),
        }
        # an aggregate node's features are its members' means: a holiday for most of them, a
        # promotion on any of them
        holiday = known("is_holiday", days) if known else None
        if holiday is not None:
            codes["holiday"] = np.where(holiday >= 0.5, 0, 1)
        promotion = known("discount_pct", days) if known else None
        if promotion is not None:
            codes["promotion"] = np.where(promotion > 0, 0, 1)
        y = np.where(ok, actuals[i], 0.0)
        for level, rows in levels.items():
            cell = ok[rows]
            if not cell.any():
                continue
            for dim, code in codes.items():
                k = len(DIMENSIONS[dim])
                c = np.where(cell & (code[rows] >= 0), code[rows], k)  # k: not counted
                flat = c.ravel()
                hit = seen.setdefault((level, dim), np.zeros((k + 1, len(rows)), dtype=bool))
                hit[c, np.arange(len(rows))[:, None]] = True
                count = np.bincount(flat, minlength=k + 1)
                actual = np.bincount(flat, weights=y[rows].ravel(), minlength=k + 1)
                for name in names:
                    e = np.where(cell, forecasts[name][i][rows] - y[rows], 0.0)
                    acc = sums.setdefault((level, name, dim), np.zeros((k + 1, 5)))
                    acc[:, 0] += count
                    acc[:, 1] += actual
                    acc[:, 2] += np.bincount(flat, weights=np.abs(e).ravel(), minlength=k + 1)
                    acc[:, 3] += np.bincount(flat, weights=e.ravel(), minlength=k + 1)
                    scaled = np.abs(e) / np.where(cell, scale[rows], 1.0)
                    acc[:, 4] += np.bincount(flat, weights=scaled.ravel(), minlength=k + 1)
    out = []
    for (level, name, dim), acc in sums.items():
        nodes = seen[(level, dim)].sum(axis=1)
        for b, label in enumerate(DIMENSIONS[dim]):
            if acc[b, 0] == 0:
                continue
            out.append(
                (level, name, dim, label, b, int(acc[b, 0]), int(nodes[b]), *acc[b, 1:].tolist())
            )
    return pd.DataFrame(out, columns=PATTERN_COLUMNS)


def panel_known(*panels) -> KnownFn:
    """The known features of ``panels``' series stacked in that order, as ``error_patterns``
    reads them (only the days asked for are copied)."""

    def known(name: str, days: np.ndarray) -> np.ndarray | None:
        if not all(name in p.known for p in panels):
            return None
        return np.concatenate([p.known[name][:, days] for p in panels])

    return known


def open_day_scaled(raw: np.ndarray, p_open: np.ndarray | None) -> np.ndarray:
    """A model's backtest forecast as the engine serves (and scores) it: times the chance the
    restaurant opens, so a closed day's 0 units are not held against a baseline."""
    return raw if p_open is None else raw * p_open
