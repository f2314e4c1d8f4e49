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
from scipy import sparse

from frycast.stages import stage
from ml.backtest import Mapper, serial_map
from ml.engine import EngineConfig, EngineResult, pooled_interval_scores, replay, run_engine
from ml.error_patterns import error_patterns, open_day_scaled, panel_known
from ml.intervals import BUCKETS, in_bucket, safe_scale
from ml.metrics import coverage, mase, seasonal_naive_scale, smape, wql
from ml.nested import before, known_days, scored_folds
from ml.panel import Panel
from ml.reconcile.hierarchy import FRYCAST_LEVELS, Hierarchy
from ml.reconcile.immutable import adjustment_weights
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
    # the global models' drivers of every node they serve (shared nodes: their source's)
    drivers: pd.DataFrame | None = None
    # backtest errors by level, horizon bucket, weekday, holiday and promotion
    patterns: pd.DataFrame | None = None
    # per node: MinT's weight and scale, for applying planners' overrides (ml/overrides.py)
    weights: pd.DataFrame | None = None


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
    open_ = None
    if panel.open is not None:
        # a node inside one restaurant opens when it does; nodes spanning restaurants are -1
        # (unknown: their base models learn the members' closures as part of their pattern)
        first = pd.Series(np.arange(panel.n_series)).groupby(panel.series["restaurant_id"]).first()
        row = series["restaurant_id"].map(first)
        open_ = np.full((len(series), len(panel.all_dates)), -1, dtype=np.int8)
        has = row.notna().to_numpy()
        open_[has] = panel.open[row[has].astype(int).to_numpy()]
    imputed = None
    if panel.imputed is not None:  # a node's day with any bridged member is not an actual
        imputed = np.asarray(A @ panel.imputed.astype(np.float32)) > 0
    return Panel(
        series=series,
        dates=panel.dates,
        y=y,
        all_dates=panel.all_dates,
        known=known,
        open=open_,
        imputed=imputed,
        # averaged like is_event, so a fold subtracts exactly the share entered after its origin
        event_layers=tuple((k, sparse.csr_matrix(weights @ m)) for k, m in panel.event_layers),
    )


@dataclass(frozen=True)
class NodeSharing:
    """Aggregate nodes whose bottom members are those of an earlier node, or of one bottom series
    (a restaurant with one region, a product group with one SKU, one item per restaurant): their
    sales are the same series, so they are forecast once and the forecast is shared (every node
    keeps its name). ``source[j]`` is aggregate node j's row in [distinct aggregate nodes; bottom
    series]."""

    distinct: np.ndarray  # the aggregate nodes forecast themselves
    source: np.ndarray

    @classmethod
    def of(cls, h: Hierarchy) -> NodeSharing:
        A = h.A.tocsr()
        A.sort_indices()
        first: dict[bytes, int] = {}
        distinct, source = [], np.empty(h.n_aggregate, dtype=int)
        single = np.diff(A.indptr) == 1
        for j in range(h.n_aggregate):
            members = A.indices[A.indptr[j] : A.indptr[j + 1]]
            if single[j]:
                source[j] = -1 - members[0]  # a bottom series: resolved below
                continue
            key = members.tobytes()
            if key not in first:
                first[key] = len(distinct)
                distinct.append(j)
            source[j] = first[key]
        source = np.where(source < 0, len(distinct) + (-1 - source), source)
        return cls(np.asarray(distinct, dtype=int), source)

    @property
    def n_shared(self) -> int:
        return len(self.source) - len(self.distinct)

    def take(self, own: np.ndarray, bottom: np.ndarray, axis: int) -> np.ndarray:
        """Every aggregate node's rows of an array given for the distinct nodes and the bottom."""
        return np.take(np.concatenate([own, bottom], axis=axis), self.source, axis=axis)

    def frame(
        self, own: pd.DataFrame, bottom: pd.DataFrame, nodes: pd.DataFrame, cols
    ) -> pd.DataFrame:
        """Rows of node-keyed frames for every aggregate node, in node order: each node gets its
        source's rows under its own ``cols`` (level, node_key and attributes from ``nodes``)."""
        sources = pd.concat(
            [
                own[["level", "node_key"]].drop_duplicates(),
                bottom[["level", "node_key"]].drop_duplicates(),
            ],
            ignore_index=True,
        )
        n_own = len(sources) - len(bottom[["level", "node_key"]].drop_duplicates())
        assert n_own == len(self.distinct)
        src = sources.iloc[self.source].reset_index(drop=True)
        mapping = pd.DataFrame(
            {"_src_level": src["level"], "_src_key": src["node_key"], "_order": np.arange(len(src))}
        )
        both = pd.concat([own, bottom], ignore_index=True)
        both["_row"] = np.arange(len(both))
        out = mapping.merge(
            both, left_on=["_src_level", "_src_key"], right_on=["level", "node_key"], how="inner"
        ).sort_values(["_order", "_row"], kind="stable")
        for c in cols:
            if c in out and c in nodes:
                out[c] = nodes[c].to_numpy()[out["_order"].to_numpy()]
        shared = (out["_src_level"] != out["level"]) | (out["_src_key"] != out["node_key"])
        out["_shared_with"] = np.where(shared, out["_src_level"] + " " + out["_src_key"], None)
        return out.drop(columns=["_src_level", "_src_key", "_order", "_row"]).reset_index(drop=True)


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
        sharing = NodeSharing.of(h)
    spread = {"mapper": mapper, "n_chunks": n_chunks}
    # (the error patterns are the reconciled run's, over every node: below)
    bottom = run_engine(panel, config, level_metrics=False, patterns=False, **spread)
    # one forecast per distinct set of members (NodeSharing)
    aggregate = run_engine(
        agg_panel.select(sharing.distinct),
        config,
        level_metrics=False,
        patterns=False,
        **spread,
    )
    with stage("reconcile"):
        return _reconciled_result(
            panel, config, reconciler, h, agg_panel, bottom, aggregate, sharing, started
        )


def _reconciled_result(
    panel, config, reconciler, h, agg_panel, bottom, aggregate, sharing, started
):
    H = config.horizon

    def nodes(grid_of, axis: int) -> np.ndarray:
        """Every node's array (aggregates, then bottom) from the two engines' (``grid_of``)."""
        own, low = grid_of(aggregate), grid_of(bottom)
        return np.concatenate([sharing.take(own, low, axis), low], axis=axis)

    base = nodes(lambda e: _grid(e.forecasts, "yhat", H), 0)
    # every day scored, a closed day as 0 units: the served forecasts cover closed days too
    bt_act = nodes(lambda e: e.backtest.scored_actuals, 1)
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
        return nodes(lambda e: replay(e.backtest, choose(e), config.fallback)[0], 1)

    p_open = nodes(lambda e: _grid(e.forecasts, "p_open", H), 0)
    base_served = [
        np.concatenate([sharing.take(a, b, 1), b], axis=1)
        for a, b in zip(aggregate.served_backtest, bottom.served_backtest, strict=True)
    ]

    def served() -> tuple:
        """The served reconciliation, its out-of-sample backtest and the residuals. What it
        builds on the way (the folds' base constructions, the nested folds' inputs, every
        candidate's outcome: ~0.4 GB at the chain tier) is freed on return, before the output
        frames are built."""
        # the served forecast: covariance and error paths from every fold, the served choices
        every = base_backtest(lambda e: {j: (e.selection, e.calibrations) for j in range(n_f)})
        residuals = _residual_rows(bt_act, every)
        # days a restaurant is certain to be closed stay 0 through reconciliation (ml.openness)
        shut = _certain_closures(bottom.forecasts, H), _certain_closures(bottom.backtest)
        # each scored fold's base choices (from earlier folds only), once for every method
        nested = {}
        for i in scored_folds(folds):
            seen = [j for j, n in enumerate(known_days(folds, i)) if n > 0]
            pred = base_backtest(lambda e, i=i, seen=seen: {j: e.nested[i] for j in [*seen, i]})
            act = before(bt_act, folds, i)
            nested[i] = seen, pred, act, _residual_rows(act, pred)

        def reconciled(name: str) -> dict:
            """The served reconciliation with ``name`` and its out-of-sample backtest."""
            method = build_reconciler(name)
            # a node no model could forecast (no day of history at the origin: a backtest's or a
            # benchmark's item launched after it) enters as 0, as on the folds, not as NaN
            rec = _reconcile(method, h, np.nan_to_num(base), residuals, history, shut[0])
            rec_every = _reconcile_folds(method, h, every, residuals, history, folds, shut=shut[1])
            bands = _path_quantiles(
                bt_act - rec_every, rec, seasonal_naive_scale(h.aggregate_observed(history)), levels
            )
            bands = [np.where(p_open == 0, 0.0, q) for q in bands]  # closed: 0, no band
            # each scored fold: covariance and error paths from earlier folds only
            rec_bt = np.full(bt_act.shape, np.nan)
            cross = [np.full(bt_act.shape, np.nan) for _ in range(3)]
            for i, (seen, pred, act, res) in nested.items():
                rec_i = _reconcile_folds(method, h, pred, res, history, folds, [*seen, i], shut[1])
                rec_bt[i] = rec_i[i]
                for k, q in enumerate(
                    _path_quantiles(act[seen] - rec_i[seen], rec_bt[i], scales[i], levels)
                ):
                    cross[k][i] = q
            return {"rec": rec, "bands": bands, "rec_bt": rec_bt, "cross": cross}

        if reconciler == AUTO:
            outcomes = {name: reconciled(name) for name in AUTO_CANDIDATES}
            choice = choose_reconciler(
                {n: o["rec_bt"] for n, o in outcomes.items()},
                base_served[0],
                bt_act,
                scales,
                h,
                folds,
            )
            best = outcomes[choice["served"]]
            rec, (lo, mid, hi) = best["rec"], best["bands"]
            # each scored fold is reported with the method its earlier folds chose
            rec_bt = np.full(bt_act.shape, np.nan)
            cross = [np.full(bt_act.shape, np.nan) for _ in range(3)]
            for i, name in choice["per_fold"].items():
                rec_bt[i] = outcomes[name]["rec_bt"][i]
                for k in range(3):
                    cross[k][i] = outcomes[name]["cross"][k][i]
            method_name = choice["served"]
        else:
            out = reconciled(reconciler)
            rec, (lo, mid, hi), rec_bt = out["rec"], out["bands"], out["rec_bt"]
            cross, choice, method_name = out["cross"], None, reconciler
        return residuals, rec, (lo, mid, hi), rec_bt, cross, choice, method_name

    residuals, rec, (lo, mid, hi), rec_bt, cross, choice, method_name = served()

    # the base forecast's reported scores are the engines' own 'selected' rows (the served
    # construction on the scored folds); the level summary reads the same arrays
    agg_nodes = agg_panel.series
    ids = ["level", "node_key"]
    attrs = [*ids, "restaurant_id", "sku_id", "product_group", "region"]
    metrics = pd.concat(
        [
            bottom.metrics,
            sharing.frame(aggregate.metrics, bottom.metrics, agg_nodes, ids).drop(
                columns="_shared_with"
            ),
            _rows(h, folds, panel, reconciler, bt_act, rec_bt, scales, cross),
        ],
        ignore_index=True,
    )
    forecasts = pd.concat(
        [
            sharing.frame(aggregate.forecasts, bottom.forecasts, agg_nodes, attrs).drop(
                columns="_shared_with"
            ),
            bottom.forecasts,
            _reconciled_frame(h, panel, rec, lo, mid, hi, method_name, p_open),
        ],
        ignore_index=True,
    )
    selection = pd.concat(
        [
            _shared_selection(
                sharing.frame(
                    aggregate.selection,
                    bottom.selection,
                    agg_nodes,
                    attrs,
                )
            ),
            bottom.selection,
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
        "reconciler_used": method_name,
        "reconciler_choice": choice,
        "n_nodes": h.n_nodes,
        "coherence_error": h.coherence_error(rec),
        "evaluation": bottom.summary["evaluation"],
        "levels": _level_summary(h, bt_act, base_served[0], rec_bt, scales, base_served[1:], cross),
        "bottom": bottom.summary,
        "aggregate": aggregate.summary,
        "shared_nodes": sharing.n_shared,
        "seconds": round(time.perf_counter() - started, 1),
    }
    drivers = _shared_drivers(sharing, aggregate, bottom, agg_nodes)
    # where the errors sit, per level: the served (reconciled) forecast, its base and seasonal
    # naive on the same out-of-sample cells
    compared = {reconciler: rec_bt, "selected": base_served[0]}
    if all("snaive" in e.backtest.predictions for e in (bottom, aggregate)):
        compared["snaive"] = nodes(
            lambda e: open_day_scaled(e.backtest.predictions["snaive"], e.backtest.p_open), 1
        )
    with stage("error patterns"):
        patterns = error_patterns(
            bt_act,
            compared,
            scales,
            levels,
            panel.all_dates,
            [f.origin for f in folds],
            panel_known(agg_panel, panel),
        )
    with stage("adjustment weights"):
        weights = weight_frame(h, residuals, seasonal_naive_scale(h.aggregate_observed(history)))
    return HierarchicalResult(
        h,
        bottom,
        aggregate,
        forecasts,
        metrics,
        selection,
        calibration,
        summary,
        drivers,
        patterns,
        weights,
    )


def weight_frame(h: Hierarchy, residuals: np.ndarray, mae_scale: np.ndarray) -> pd.DataFrame:
    """What applying planners' overrides to this run later needs, per node: MinT's weight from
    the backtest residuals (its correlated part kept to a low rank, ``adjustment_weights``), as
    float32 bytes, and the node's in-sample seasonal-naive MAE."""
    W = adjustment_weights(h, residuals)
    factor = None if W.U is None else W.U.astype("<f4")
    return pd.DataFrame(
        {
            "level": h.nodes["level"].to_numpy(),
            "node_key": h.nodes["node_key"].to_numpy(),
            "variance": W.d,
            "factor": None if factor is None else [row.tobytes() for row in factor],
            "mae_scale": mae_scale,
        }
    )


def _shared_drivers(sharing: NodeSharing, aggregate, bottom, agg_nodes) -> pd.DataFrame | None:
    """The engines' drivers for every node: an aggregate node shares its source's."""
    explained = [d for d in (aggregate.drivers, bottom.drivers) if d is not None]
    if not explained:
        return None
    ids = ["level", "node_key"]
    # sharing.source indexes [distinct aggregate nodes; bottom series], the engines' row order
    sources = pd.concat([aggregate.selection[ids], bottom.selection[ids]], ignore_index=True)
    src = sources.iloc[sharing.source].reset_index(drop=True)
    mapping = pd.DataFrame(
        {
            "_level": src["level"].to_numpy(),
            "_key": src["node_key"].to_numpy(),
            "level": agg_nodes["level"].to_numpy(),
            "node_key": agg_nodes["node_key"].to_numpy(),
        }
    )
    every = pd.concat(explained, ignore_index=True).rename(
        columns={"level": "_level", "node_key": "_key"}
    )
    shared = mapping.merge(every, on=["_level", "_key"]).drop(columns=["_level", "_key"])
    return pd.concat([shared, bottom.drivers], ignore_index=True)


def _certain_closures(source, h: int | None = None) -> np.ndarray | None:
    """Bottom (series × day) where the restaurant is certain to be closed: from a forecast frame's
    ``p_open`` (with ``h``), or a backtest's (fold, series, day) ``p_open``."""
    if h is not None:
        if "p_open" not in source or source["p_open"].isna().all():
            return None
        return _grid(source, "p_open", h) == 0
    return None if source.p_open is None else source.p_open == 0


def _shared_selection(sel: pd.DataFrame) -> pd.DataFrame:
    """Selection rows of shared nodes say whose forecast they share."""
    shared = sel["_shared_with"].notna()
    sel.loc[shared, "reason"] = (
        sel.loc[shared, "reason"]
        + "; the same series as "
        + sel.loc[shared, "_shared_with"]
        + ": forecast once, shared"
    )
    return sel.drop(columns="_shared_with")


AUTO = "auto"
# what a run chooses among, on its backtests; the first is the prior for a fold with no earlier
# scored fold to choose on
AUTO_CANDIDATES = ("mint_shrink", "wls_var", "bottom_up")
# a method that makes the bottom level's MASE worse than its base by more than this share is not
# chosen (bottom-up never does: its bottom is the base)
BOTTOM_TOLERANCE = 0.01


def choose_reconciler(rec_bts: dict, base_bt, act, scales, h, folds) -> dict:
    """The reconciler with the lowest mean over levels of the level MASE on the scored folds,
    among those that leave the bottom level no worse than its base forecast (within
    ``BOTTOM_TOLERANCE``). The served choice uses every scored fold; each scored fold's own
    report uses the choice made on the scored folds before it (older origins), or the first
    candidate where there is none: a score used to choose is never the score reported for it."""
    levels = h.level_slices()
    bottom = levels[h.bottom_level]
    scored = scored_folds(folds)

    def score(name: str, on: list[int], act) -> tuple[float, bool]:
        pred = rec_bts[name]
        per_level = [
            np.nanmean(mase(act[on][:, rows], pred[on][:, rows], scales[on][:, rows]))
            for rows in levels.values()
        ]
        base = np.nanmean(mase(act[on][:, bottom], base_bt[on][:, bottom], scales[on][:, bottom]))
        rec = np.nanmean(mase(act[on][:, bottom], pred[on][:, bottom], scales[on][:, bottom]))
        return float(np.nanmean(per_level)), bool(rec <= base * (1 + BOTTOM_TOLERANCE))

    def best(on: list[int], act) -> tuple[str, dict]:
        if not on:
            return AUTO_CANDIDATES[0], {}
        scores = {n: score(n, on, act) for n in rec_bts}
        ok = {n: s for n, (s, fine) in scores.items() if fine} or {"bottom_up": 0.0}
        return min(ok, key=ok.get), {
            n: {"mean_level_mase": round(s, 4), "bottom_no_worse": fine}
            for n, (s, fine) in scores.items()
        }

    served, scores = best(scored, act)
    return {
        "served": served,
        "scores": scores,
        # days after fold i's origin stay hidden when folds overlap (ml.nested)
        "per_fold": {
            i: best([j for j in scored if j > i], before(act, folds, i))[0] for i in scored
        },
        "why": "lowest mean level MASE on the scored backtest folds among the methods that leave "
        "the bottom level no worse than its base",
    }


def _reconcile(
    method: Reconciler, h: Hierarchy, base: np.ndarray, residuals: np.ndarray, history, shut=None
) -> np.ndarray:
    out = method.reconcile(h, base, residuals=residuals, history=history)
    bottom = np.maximum(out[h.n_aggregate :], 0.0)  # units cannot be negative
    if shut is not None:  # a restaurant certain to be closed sells nothing, whatever MinT says
        bottom = np.where(shut, 0.0, bottom)
    return h.aggregate(bottom)


def _reconcile_folds(
    method, h, preds, residuals, history, folds, which=None, shut=None
) -> np.ndarray:
    """Reconcile the (fold, node, day) backtest forecasts of the folds ``which`` (all by
    default) with one covariance; each fold sees only its own training history, and ``shut``
    (fold, bottom series, day) its certain closures. NaN elsewhere."""
    which = list(range(len(folds)) if which is None else which)
    # a node that even the fallback could not forecast on a fold (no history before its origin:
    # not launched yet) enters as 0 rather than spreading NaN through the projection
    base = {j: np.nan_to_num(preds[j]) for j in which}
    out = np.full(preds.shape, np.nan)
    if method.needs_history:
        for j in which:
            out[j] = _reconcile(
                method,
                h,
                base[j],
                residuals,
                history[:, : folds[j].origin + 1],
                None if shut is None else shut[j],
            )
        return out
    # one solve for every fold at once: the projection does not depend on the history
    d = preds.shape[-1]
    stacked = _reconcile(
        method,
        h,
        np.hstack([base[j] for j in which]),
        residuals,
        None,
        None if shut is None else np.hstack([shut[j] for j in which]),
    )
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
            q = row_nanquantiles(e, (0.1, 0.5, 0.9))
            if scale is not None and levels is not None:
                _pool_few(q, e, safe_scale(scale), levels)
            # a bucket without one error to learn from (a nested fold sees few far days of the
            # folds before it) keeps the nearer bucket's band, never a zero-width one: that read
            # as 0.30 claimed coverage for 0.75 realised (demo, 365 days)
            last = np.nan_to_num(q) if last is None else np.where(np.isnan(q), last, q)
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


def contiguous(rows: np.ndarray) -> slice | np.ndarray:
    """A slice where the rows are one contiguous run (a level's nodes are): indexing with it
    gives views, where an index array copies every (fold × node × day) array it selects (nine of
    them per level here: 1 GB at the chain tier's peak)."""
    rows = np.asarray(rows)
    if rows.size and (np.diff(rows) == 1).all():
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _level_summary(h, act, base, rec, scales, base_q, rec_q) -> dict:
    out = {}
    for level, idx in h.level_slices().items():
        rows = contiguous(idx)
        a = act[:, rows]
        out[level] = {
            "nodes": int(len(idx)),
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


def _reconciled_frame(h, panel, rec, lo, mid, hi, reconciler, p_open) -> pd.DataFrame:
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
            "p_open": p_open.ravel(),
        }
    )
