"""Reconcilers behind one interface: bottom-up, top-down, OLS, WLS (structural and variance),
MinT-shrink.

``reconcile(h, base, residuals=..., history=...)`` takes base forecasts of every node (n_nodes × k,
rows in :class:`~ml.reconcile.hierarchy.Hierarchy` order) and returns coherent forecasts of every
node. Flags say what else a method needs:

- ``needs_residuals``: forecast errors per node (T × n_nodes), in-sample or from backtests;
- ``needs_history``: the actuals of the bottom series (n_bottom × T), for historical proportions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.solve import AggregateSpaceSolver, Covariance

RIDGE = 2e-8  # hierarchicalforecast's default diagonal ridge for wls_var and mint_shrink


class Reconciler(ABC):
    name: str = "reconciler"
    needs_residuals: bool = False
    needs_history: bool = False

    @abstractmethod
    def reconcile(
        self,
        h: Hierarchy,
        base: np.ndarray,
        *,
        residuals: np.ndarray | None = None,
        history: np.ndarray | None = None,
    ) -> np.ndarray: ...

    def _need(self, residuals, history) -> None:
        if self.needs_residuals and residuals is None:
            raise ValueError(f"{self.name} needs residuals (T × n_nodes)")
        if self.needs_history and history is None:
            raise ValueError(f"{self.name} needs the bottom series' history (n_bottom × T)")


class BottomUp(Reconciler):
    name = "bottom_up"

    def reconcile(self, h, base, *, residuals=None, history=None):
        return h.aggregate(np.asarray(base, dtype=float)[h.n_aggregate :])


class TopDown(Reconciler):
    """The total's forecast split by historical proportions of the bottom series.

    ``average_proportions``: p_j = mean over t of y_j,t / total_t (Gross & Sohl's method A);
    ``proportion_averages``: p_j = mean_t y_j,t / mean_t total_t (method F). Proportions come from
    the whole history given (the caller chooses the window). Top-down ignores the base forecasts of
    every node below the top, which is why it is a baseline, not a default.
    """

    needs_history = True

    def __init__(self, method: str = "average_proportions") -> None:
        if method not in ("average_proportions", "proportion_averages"):
            raise ValueError("method must be average_proportions or proportion_averages")
        self.method = method
        self.name = f"top_down_{method}"

    def proportions(self, history: np.ndarray) -> np.ndarray:
        y = np.nan_to_num(np.asarray(history, dtype=float))
        total = y.sum(axis=0)
        if self.method == "proportion_averages":
            return y.mean(axis=1) / max(total.mean(), 1e-12)
        ok = total > 0
        return (y[:, ok] / total[ok]).mean(axis=1) if ok.any() else np.full(len(y), 1 / len(y))

    def reconcile(self, h, base, *, residuals=None, history=None):
        self._need(residuals, history)
        base = np.asarray(base, dtype=float)
        top = base[0]  # the first node is the grand total
        if h.n_aggregate == 0 or h.A[0].nnz != h.n_bottom:
            raise ValueError("top-down needs the grand total as the first node")
        return h.aggregate(self.proportions(history)[:, None] * top[None, :])


class _Projection(Reconciler):
    """A linear MinT-family reconciler: subclasses supply W."""

    def covariance(self, h: Hierarchy, residuals: np.ndarray | None) -> Covariance:
        raise NotImplementedError

    def reconcile(self, h, base, *, residuals=None, history=None):
        self._need(residuals, history)
        return AggregateSpaceSolver(h, self.covariance(h, residuals)).reconcile(base)

    def solver(self, h: Hierarchy, residuals: np.ndarray | None = None) -> AggregateSpaceSolver:
        """The factorised projection, to reconcile many forecast matrices (e.g. quantiles)."""
        self._need(residuals, None)
        return AggregateSpaceSolver(h, self.covariance(h, residuals))


class OLS(_Projection):
    name = "ols"

    def covariance(self, h, residuals):
        return Covariance(np.ones(h.n_nodes))


class WLSStruct(_Projection):
    """W = diag(S 1): each node weighted by the number of bottom series under it."""

    name = "wls_struct"

    def covariance(self, h, residuals):
        counts = np.asarray(h.A.sum(axis=1)).ravel()
        return Covariance(np.concatenate([counts, np.ones(h.n_bottom)]))


class WLSVar(_Projection):
    """W = diag of each node's residual variance (mean of squared residuals)."""

    name = "wls_var"
    needs_residuals = True

    def covariance(self, h, residuals):
        e = np.asarray(residuals, dtype=float)
        _check_shape(h, e)
        # as hierarchicalforecast: Σ e² over the observed / all T, plus a 2e-8 ridge
        return Covariance(_floor(np.nansum(e**2, axis=0) / e.shape[0] + RIDGE))


class MinTShrink(_Projection):
    """W = λ·diag(Σ̂) + (1 - λ)·Σ̂, Σ̂ the residual covariance, λ by Schäfer & Strimmer (2005).

    Computed exactly at any scale: λ needs sums over all pairs of series of products of
    standardised residuals, which reduce to T × T Gram matrices (O(n·T²), no n × n matrix), and
    W = diag + low rank goes to the Woodbury solve of :mod:`ml.reconcile.solve`.
    """

    name = "mint_shrink"
    needs_residuals = True

    def __init__(self, ridge: float = RIDGE) -> None:
        self.ridge = ridge  # a floor on W's diagonal, as hierarchicalforecast's mint_shr_ridge

    def covariance(self, h, residuals):
        e = _residuals(h, residuals)
        lam, var, centred = shrinkage(e)
        T = e.shape[0]
        self.lambda_ = lam
        # W's diagonal is var (λ·var here, (1 - λ)·var from U U'), floored at the ridge
        d = _floor(lam * var + np.maximum(self.ridge - var, 0.0))
        U = np.sqrt((1 - lam) / (T - 1)) * centred.T  # (n, T): (1 - λ)·Σ̂ = U U'
        # the diagonal of W must be var: λ·var + (1 - λ)·var; U U' supplies (1 - λ)·var already
        return Covariance(d, U)


def shrinkage(e: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Schäfer–Strimmer shrinkage intensity λ towards the diagonal, the variances and the centred
    residuals, for residuals ``e`` (T × n).

    λ = Σ_{i≠j} Var(r_ij) / Σ_{i≠j} r_ij², with r the sample correlation of the standardised
    residuals x and Var(r_ij) = T / (T - 1)³ · Σ_t (x_ti x_tj - mean_t x_ti x_tj)². Both sums over
    pairs come from T × T Gram matrices: Σ_ij (Σ_t x_ti x_tj)² = ‖x x'‖²_F and
    Σ_ij Σ_t x_ti² x_tj² = Σ_t (Σ_i x_ti²)².
    """
    T = e.shape[0]
    centred = e - e.mean(axis=0)
    var = (centred**2).sum(axis=0) / (T - 1)
    sd = np.sqrt(var)
    ok = sd > 0
    x = np.zeros_like(centred)
    x[:, ok] = centred[:, ok] / sd[ok]
    G = x @ x.T  # T × T
    sum_w2 = float((G**2).sum())  # Σ_ij (Σ_t x_ti x_tj)²
    sq = (x**2).sum(axis=1)
    sum_w_sq = float((sq**2).sum())  # Σ_ij Σ_t x_ti² x_tj²
    diag_w2 = float(((x**2).sum(axis=0) ** 2).sum())  # i = j terms of sum_w2
    diag_w_sq = float((x**4).sum())  # i = j terms of sum_w_sq
    # Σ_{i≠j} Σ_t (w_tij - w̄_ij)² = Σ_{i≠j} [Σ_t w_tij² - (Σ_t w_tij)² / T]
    num = (T / (T - 1) ** 3) * ((sum_w_sq - diag_w_sq) - (sum_w2 - diag_w2) / T)
    den = (sum_w2 - diag_w2) / (T - 1) ** 2  # Σ_{i≠j} r_ij², r_ij = Σ_t w_tij / (T - 1)
    lam = float(np.clip(num / den, 0.0, 1.0)) if den > 0 else 1.0
    return lam, var, centred


def _check_shape(h: Hierarchy, e: np.ndarray) -> None:
    if e.ndim != 2 or e.shape[1] != h.n_nodes:
        raise ValueError(f"residuals must be T × {h.n_nodes}, got {e.shape}")
    if e.shape[0] < 3:
        raise ValueError("need at least 3 residual time points")


def _residuals(h: Hierarchy, residuals: np.ndarray | None) -> np.ndarray:
    e = np.asarray(residuals, dtype=float)
    _check_shape(h, e)
    # a missing residual (a closed day) carries no information: zero after centring; a node with
    # no residual at all (a new series) gets zeros, and the variance floor
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(e, axis=0, keepdims=True))
    return np.where(np.isnan(e), mean, e)


def _floor(d: np.ndarray) -> np.ndarray:
    """Strictly positive weights: a node with no residual variance gets a tiny one."""
    d = np.nan_to_num(np.asarray(d, dtype=float))
    pos = d[d > 0]
    floor = (pos.min() if pos.size else 1.0) * 1e-6
    return np.maximum(d, floor)


METHODS = {
    "bottom_up": BottomUp,
    "top_down": TopDown,
    "ols": OLS,
    "wls_struct": WLSStruct,
    "wls_var": WLSVar,
    "mint_shrink": MinTShrink,
}


def build_reconciler(name: str) -> Reconciler:
    if name not in METHODS:
        raise ValueError(f"unknown reconciler {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]()
