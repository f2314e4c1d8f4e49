"""Forecasts for every node of the hierarchy, reconciled so that they add up.

1. The bottom panel (restaurant × SKU) and an aggregate panel (one series per chain, region,
   restaurant, product group, SKU and restaurant × product group node: sums of the observed
   bottom series; known features averaged over members) each go through the engine: the same
   folds, models, selection and conformal calibration. Those are the *base* forecasts.
2. Backtest residuals of the selected base forecasts, for every node and every (fold, day), give
   the reconciler its covariance (MinT-shrink by default).
3. The base forecasts are reconciled; negative bottom forecasts are set to zero and the
   aggregates re-summed, so the result is coherent and non-negative.
4. Intervals come from the same reconciliation applied to the backtests: the errors of the
   reconciled backtest forecasts of every node, per horizon bucket. Every (fold, day) error vector
   is coherent (actuals and reconciled forecasts both add up), so reconciled forecast + error is
   a coherent sample path; a node's 0.1 / 0.5 / 0.9 quantiles are the quantiles of its paths.
   Coverage is cross-fitted (each fold scored with errors and covariance from the other folds)
   and reported per level before and after reconciliation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from frycast.stages import stage
from ml.backtest import Mapper, serial_map
from ml.engine import EngineConfig, EngineResult, pooled_interval_scores, replay, run_engine
from ml.intervals import BUCKETS, in_bucket, safe_scale
from ml.metrics import coverage, mase, seasonal_naive_scale, smape, wql
from ml.nested import before, known_days, scored_folds
from ml.panel import Panel
from ml.reconcile.hierarchy import FRYCAST_LEVELS, Hierarchy
from ml.reconcile.methods import Reconciler, build_reconciler

log = logging.getLogger(__name__)


@dataclass
class HierarchicalResult:
    hierarchy: Hierarchy
    bottom: EngineResult
    aggregate: EngineResult
    forecasts: pd.DataFrame  # base and reconciled rows of every node
    metrics: pd.DataFrame  # the engines' per-model rows, plus "selected" and the reconciler's
    selection: pd.DataFrame
    calibration: pd.DataFrame
    summary: dict


def aggregate_panel(panel: Panel, h: Hierarchy) -> Panel:
    """One series per aggregate node: sums of observed members; known features averaged."""
    A = h.A
    y = h.aggregate_observed(panel.y)[: h.n_aggregate]
    weights = A.multiply(1.0 / np.maximum(A.sum(axis=1), 1)).tocsr()
    known = {name: np.asarray(weights @ arr) for name, arr in panel.known.items()}
    nodes = h.nodes.iloc[: h.n_aggregate].reset_index(drop=True)
    series = pd.DataFrame(
        {
            "level": nodes["level"],
            "node_key": nodes["node_key"],
            "restaurant_id": nodes.get("restaurant_id"),
            "sku_id": nodes.get("sku_id"),
            "product_group": nodes.get("product_group"),
            "region": nodes.get("region"),
        }
    )
    for col in ("product_group", "region"):
        codes = panel.series.drop_duplicates(col).set_index(col)[f"{col}_code"]
        # nodes spanning several groups or regions have no code: NaN (missing), not a category
        series[f"{col}_code"] = series[col].map(codes).astype(float)
    return Panel(series=series, dates=panel.dates, y=y, all_dates=panel.all_dates, known=known)


def run_hierarchical(
    panel: Panel,
    config: EngineConfig,
    *,
    reconciler: str = "mint_shrink",
    levels=FRYCAST_LEVELS,
    mapper: Mapper = serial_map,
    n_chunks: int = 1,
) -> HierarchicalResult:
    started = time.perf_counter()
    with stage("aggregate panel"):
        h = Hierarchy.from_bottom(panel.series, levels)
        agg_panel = aggregate_panel(panel, h)
    spread = {"mapper": mapper, "n_chunks": n_chunks}
    bottom = run_engine(panel, config, level_metrics=False, **spread)
    aggregate = run_engine(agg_panel, config, level_metrics=False, **spread)
    with stage("reconcile"):
        return _reconciled_result(
            panel, config, reconciler, h, agg_panel, bottom, aggregate, started
        )


def _reconciled_result(panel, config, reconciler, h, agg_panel, bottom, aggregate, started):
    method = build_reconciler(reconciler)
    H = config.horizon
    base = np.vstack([_grid(aggregate.forecasts, "yhat", H), _grid(bottom.forecasts, "yhat", H)])
    bt_act = np.concatenate([aggregate.backtest.actuals, bottom.backtest.actuals], axis=1)
    folds = bottom.backtest.folds
    n_f = len(folds)
    history = panel.y
    levels = h.level_slices()
    scales = np.stack(
        [seasonal_naive_scale(h.aggregate_observed(history[:, : f.origin + 1])) for f in folds]
    )

    def base_backtest(choose) -> np.ndarray:
        """Every node's served base construction on the backtest folds, under ``choose(engine)``
        (fold -> that fold's selection and calibrations); (fold, node, day)."""
        return np.concatenate(
            [replay(e.backtest, choose(e), config.fallback)[0] for e in (aggregate, bottom)],
            axis=1,
        )

    # the served forecast: covariance and error paths from every fold, under the served choices
    every = base_backtest(lambda e: {j: (e.selection, e.calibrations) for j in range(n_f)})
    residuals = _residual_rows(bt_act, every)
    rec = _reconcile(method, h, base, residuals, history)
    rec_every = _reconcile_folds(method, h, every, residuals, history, folds)
    lo, mid, hi = _path_quantiles(
        bt_act - rec_every, rec, seasonal_naive_scale(h.aggregate_observed(history)), levels
    )

    # each scored fold: base choices, covariance and error paths from earlier folds only
    rec_bt = np.full(bt_act.shape, np.nan)
    cross = [np.full(bt_act.shape, np.nan) for _ in range(3)]
    for i in scored_folds(folds):
        seen = [j for j, n in enumerate(known_days(folds, i)) if n > 0]
        pred = base_backtest(lambda e, i=i, seen=seen: {j: e.nested[i] for j in [*seen, i]})
        act = before(bt_act, folds, i)
        res = _residual_rows(act, pred)
        rec_i = _reconcile_folds(method, h, pred, res, history, folds, [*seen, i])
        rec_bt[i] = rec_i[i]
        for k, q in enumerate(
            _path_quantiles(act[seen] - rec_i[seen], rec_bt[i], scales[i], levels)
        ):
            cross[k][i] = q

    # the base forecast's reported scores are the engines' own 'selected' rows (the served
    # construction on the scored folds); the level summary reads the same arrays
    base_served = [
        np.concatenate([a, b], axis=1)
        for a, b in zip(aggregate.served_backtest, bottom.served_backtest, strict=True)
    ]
    metrics = pd.concat(
        [
            bottom.metrics,
            aggregate.metrics,
            _rows(h, folds, panel, reconciler, bt_act, rec_bt, scales, cross),
        ],
        ignore_index=True,
    )
    forecasts = pd.concat(
        [
            aggregate.forecasts,
            bottom.forecasts,
            _reconciled_frame(h, panel, rec, lo, mid, hi, reconciler),
        ],
        ignore_index=True,
    )
    selection = pd.concat(
        [
            aggregate.selection.assign(level=agg_panel.series["level"].to_numpy()),
            bottom.selection.assign(level=h.bottom_level),
        ],
        ignore_index=True,
    )
    calibration = pd.concat(
        [
            bottom.calibration.assign(level=h.bottom_level),
            aggregate.calibration.assign(level="aggregate"),
        ],
        ignore_index=True,
    )
    summary = {
        "reconciler": reconciler,
        "n_nodes": h.n_nodes,
        "coherence_error": h.coherence_error(rec),
        "evaluation": bottom.summary["evaluation"],
        "levels": _level_summary(h, bt_act, base_served[0], rec_bt, scales, base_served[1:], cross),
        "bottom": bottom.summary,
        "aggregate": aggregate.summary,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return HierarchicalResult(
        h, bottom, aggregate, forecasts, metrics, selection, calibration, summary
    )


def _reconcile(
    method: Reconciler, h: Hierarchy, base: np.ndarray, residuals: np.ndarray, history
) -> np.ndarray:
    out = method.reconcile(h, base, residuals=residuals, history=history)
    bottom = np.maximum(out[h.n_aggregate :], 0.0)  # units cannot be negative
    return h.aggregate(bottom)


def _reconcile_folds(method, h, preds, residuals, history, folds, which=None) -> np.ndarray:
    """Reconcile the (fold, node, day) backtest forecasts of the folds ``which`` (all by
    default) with one covariance; each fold sees only its own training history. NaN elsewhere."""
    which = list(range(len(folds)) if which is None else which)
    # a node that even the fallback could not forecast on a fold (no history before its origin:
    # not launched yet) enters as 0 rather than spreading NaN through the projection
    base = {j: np.nan_to_num(preds[j]) for j in which}
    out = np.full(preds.shape, np.nan)
    if method.needs_history:
        for j in which:
            out[j] = _reconcile(method, h, base[j], residuals, history[:, : folds[j].origin + 1])
        return out
    # one solve for every fold at once: the projection does not depend on the history
    d = preds.shape[-1]
    stacked = _reconcile(method, h, np.hstack([base[j] for j in which]), residuals, None)
    for k, j in enumerate(which):
        out[j] = stacked[:, k * d : (k + 1) * d]
    return out


def _residual_rows(actuals: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """(fold, node, day) errors as (fold·day) × node rows; NaN where a node had no actual (rows
    the protocol hid entirely are left out)."""
    e = actuals - preds
    rows = e.transpose(0, 2, 1).reshape(-1, e.shape[1])
    return rows[~np.isnan(rows).all(axis=1)]


def _grid(frame: pd.DataFrame, col: str, h: int) -> np.ndarray:
    return frame[col].to_numpy(dtype=float).reshape(-1, h)


MIN_NODE_ERRORS = 60  # fewer errors than this in a bucket: the node takes its level's pooled ones


def _path_quantiles(
    err: np.ndarray, point: np.ndarray, scale: np.ndarray | None = None, levels=None
) -> tuple[np.ndarray, ...]:
    """0.1 / 0.5 / 0.9 quantiles of point + error per node and horizon bucket (floored at 0).

    ``err`` is (fold, node, day) over the backtest horizon; ``point`` is (node, h). Buckets past
    the longest backtest day use the last one. A node with fewer than ``MIN_NODE_ERRORS`` errors
    in a bucket takes the quantiles of its level's errors divided by each node's ``scale``
    (pooled), times its own scale. The band always holds the point (the reconciled forecast).
    """
    n, h = point.shape
    fh = err.shape[-1]
    out = [np.full((n, h), np.nan) for _ in range(3)]  # a day left unset stays NaN
    day = np.arange(1, h + 1)
    last = None
    for a, b in BUCKETS:
        cols = in_bucket(day, (a, b))
        if a <= fh:
            e = err[:, :, a - 1 : min(b or fh, fh)]
            e = e.transpose(1, 0, 2).reshape(n, -1)
            last = row_nanquantiles(e, (0.1, 0.5, 0.9))
            if scale is not None and levels is not None:
                _pool_few(last, e, safe_scale(scale), levels)
            last = np.nan_to_num(last)
        if cols.any():
            for k in range(3):
                out[k][:, cols] = point[:, cols] + last[k][:, None]
    lo, mid, hi = (np.maximum(o, 0.0) for o in out)
    return np.minimum(np.minimum(lo, mid), point), mid, np.maximum(np.maximum(hi, mid), point)


def _pool_few(q: np.ndarray, e: np.ndarray, scale: np.ndarray, levels: dict) -> None:
    """In place: nodes with few errors get their level's pooled scaled-error quantiles."""
    few = (~np.isnan(e)).sum(axis=1) < MIN_NODE_ERRORS
    if not few.any():
        return
    for rows in levels.values():
        sel = rows[few[rows]]
        if not len(sel):
            continue
        z = (e[rows] / scale[rows, None]).ravel()
        z = z[~np.isnan(z)]
        if z.size:
            q[:, sel] = np.quantile(z, (0.1, 0.5, 0.9))[:, None] * scale[sel][None, :]


def row_nanquantiles(a: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Quantiles of each row ignoring NaN, as ``np.nanquantile(a, qs, axis=1)`` (linear
    interpolation) computes them, but with one sort of the whole array: numpy's own goes row by
    row in Python when there are NaN (88 s of 138 in reconciling the chain tier's 18 k nodes).
    Rows without values give NaN."""
    n, m = a.shape
    if m == 0:
        return np.full((len(qs), n), np.nan)
    valid = (~np.isnan(a)).sum(axis=1)
    ordered = np.sort(np.where(np.isnan(a), np.inf, a), axis=1)  # NaN (as +inf) sort last
    rows = np.arange(n)
    out = np.full((len(qs), n), np.nan)
    has = valid > 0
    for k, q in enumerate(qs):
        pos = q * (valid - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(valid - 1, 0))
        lo_v, hi_v = ordered[rows, np.maximum(lo, 0)], ordered[rows, hi]
        with np.errstate(invalid="ignore"):
            value = lo_v + (pos - lo) * (hi_v - lo_v)
        out[k] = np.where(has, np.where(lo_v == hi_v, lo_v, value), np.nan)
    return out


def _rows(h, folds, panel, model, act, pred, scales, quantiles) -> pd.DataFrame:
    lo, mid, hi = quantiles
    n_f = len(folds)
    nodes = h.nodes
    frame = pd.DataFrame(
        {
            "level": np.tile(nodes["level"].to_numpy(), n_f),
            "node_key": np.tile(nodes["node_key"].to_numpy(), n_f),
            "model": model,
            "fold": np.repeat([f.index for f in folds], h.n_nodes),
            "origin": np.repeat([panel.dates[f.origin].date() for f in folds], h.n_nodes),
            "horizon": np.repeat([f.horizon for f in folds], h.n_nodes),
            "n_obs": (~np.isnan(act)).sum(axis=-1).ravel(),
            "mase": np.asarray(mase(act, pred, scales)).ravel(),
            "smape": np.asarray(smape(act, pred)).ravel(),
            "wql": np.asarray(wql(act, {0.1: lo, 0.5: mid, 0.9: hi})).ravel(),
            "coverage_80": np.asarray(coverage(act, lo, hi)).ravel(),
        }
    )
    return frame


def _level_summary(h, act, base, rec, scales, base_q, rec_q) -> dict:
    out = {}
    for level, rows in h.level_slices().items():
        a = act[:, rows]
        out[level] = {
            "nodes": int(len(rows)),
            "mase_base": float(np.nanmean(mase(a, base[:, rows], scales[:, rows]))),
            "mase_reconciled": float(np.nanmean(mase(a, rec[:, rows], scales[:, rows]))),
            "coverage_base": pooled_interval_scores(
                a, base_q[0][:, rows], base_q[1][:, rows], base_q[2][:, rows]
            )["coverage_80"],
            "coverage_reconciled": pooled_interval_scores(
                a, rec_q[0][:, rows], rec_q[1][:, rows], rec_q[2][:, rows]
            )["coverage_80"],
        }
    return out


def _reconciled_frame(h, panel, rec, lo, mid, hi, reconciler) -> pd.DataFrame:
    n, H = rec.shape
    nodes = h.nodes
    dates = panel.future_dates(H)

    def col(name):
        return np.repeat(nodes[name].to_numpy(), H) if name in nodes else None

    return pd.DataFrame(
        {
            "level": col("level"),
            "node_key": col("node_key"),
            "restaurant_id": col("restaurant_id"),
            "sku_id": col("sku_id"),
            "product_group": col("product_group"),
            "region": col("region"),
            "forecast_date": np.tile(dates.date, n),
            "yhat": rec.ravel(),
            "yhat_q50": mid.ravel(),
            "yhat_lo80": lo.ravel(),
            "yhat_hi80": hi.ravel(),
            "model": reconciler,
            "reconciled": True,
        }
    )
