"""The MinT projection, solved in the aggregate space.

Every linear reconciler here is the projection ỹ = ŷ - W C' (C W C')⁻¹ C ŷ with C = [I, -A]: the
coherent forecast closest to the base forecast ŷ in the metric W⁻¹ (Wickramasuriya, Athanasopoulos
& Hyndman 2019). It equals S (S' W⁻¹ S)⁻¹ S' W⁻¹ ŷ, but the system to solve has the size of the
aggregates, not of the bottom level, and W never has to be inverted.

W is given as a diagonal plus a low-rank term, W = diag(d) + U U' (U is n × r, r = the number of
residual time points): that covers OLS and WLS (no U) and MinT-shrink exactly, since the shrunk
sample covariance λ·diag(Σ̂) + (1 - λ)·Σ̂ is a diagonal plus (1 - λ)·E'E / (T - 1). Then

    C W C' = diag(d_a) + A diag(d_b) A' + V V',   V = C U = U_a - A U_b,

a sparse n_a × n_a matrix plus rank r, solved by a sparse LU and the Woodbury identity. Memory is
O(nnz(A) + n·r + n_a·r); nothing n × n is ever formed. Every solve is checked: the relative
residual of the aggregate-space system must stay below ``tol`` (one step of iterative refinement
is taken if it does not, then it raises).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ml.reconcile.hierarchy import Hierarchy

TOLERANCE = 1e-9


@dataclass
class Covariance:
    """W = diag(d) + U U' over all nodes (aggregates first, then bottom)."""

    d: np.ndarray  # (n_nodes,)
    U: np.ndarray | None = None  # (n_nodes, r)


class AggregateSpaceSolver:
    """Factorises C W C' once; :meth:`project` then reconciles any number of forecast columns."""

    def __init__(self, h: Hierarchy, W: Covariance, tol: float = TOLERANCE) -> None:
        self.h, self.W, self.tol = h, W, tol
        na = h.n_aggregate
        d = np.asarray(W.d, dtype=float)
        if np.any(d <= 0) or not np.all(np.isfinite(d)):
            raise ValueError("the diagonal of W must be positive and finite")
        self.d_a, self.d_b = d[:na], d[na:]
        A = h.A
        self.M = (sp.diags(self.d_a) + A @ sp.diags(self.d_b) @ A.T).tocsc()
        self.lu = spla.splu(self.M)
        self.V = None
        if W.U is not None and W.U.shape[1] > 0:
            U = np.asarray(W.U, dtype=float)
            self.U_a, self.U_b = U[:na], U[na:]
            self.V = self.U_a - A @ self.U_b  # (n_a, r)
            MinvV = self.lu.solve(self.V)
            cap = np.eye(self.V.shape[1]) + self.V.T @ MinvV  # I_r + V' M⁻¹ V
            self.MinvV = MinvV
            self.cap = la.cho_factor(cap)

    def _solve(self, r: np.ndarray) -> np.ndarray:
        x = self.lu.solve(r)
        if self.V is not None:  # Woodbury: (M + V V')⁻¹ r
            x = x - self.MinvV @ la.cho_solve(self.cap, self.V.T @ x)
        return x

    def _apply(self, x: np.ndarray) -> np.ndarray:
        """(C W C') x."""
        out = self.M @ x
        if self.V is not None:
            out = out + self.V @ (self.V.T @ x)
        return out

    def solve(self, r: np.ndarray) -> np.ndarray:
        """x with (C W C') x = r, the relative residual checked against ``tol``."""
        x = self._solve(r)
        scale = max(float(np.abs(r).max()), 1e-300)
        for _ in range(2):
            resid = r - self._apply(x)
            err = float(np.abs(resid).max()) / scale
            if err <= self.tol:
                return x
            x = x + self._solve(resid)  # iterative refinement
        resid = r - self._apply(x)
        err = float(np.abs(resid).max()) / scale
        if err > self.tol:
            raise FloatingPointError(
                f"aggregate-space solve did not converge: relative residual {err:.2e}"
                f" > {self.tol:.0e}"
            )
        return x

    def project(self, base: np.ndarray) -> np.ndarray:
        """Reconciled bottom forecasts (n_bottom × k) from base forecasts of every node (n × k)."""
        y = np.asarray(base, dtype=float)
        if y.ndim == 1:
            y = y[:, None]
        na = self.h.n_aggregate
        y_a, y_b = y[:na], y[na:]
        x = self.solve(y_a - self.h.A @ y_b)  # C ŷ
        ctx_b = -(self.h.A.T @ x)  # bottom part of C' x (the aggregate part is x itself)
        corr_b = self.d_b[:, None] * ctx_b
        if self.V is not None:
            corr_b = corr_b + self.U_b @ (self.U_a.T @ x + self.U_b.T @ ctx_b)
        return y_b - corr_b

    def reconcile(self, base: np.ndarray) -> np.ndarray:
        """Coherent forecasts of every node: the bottom projected, aggregates summed from it."""
        return self.h.aggregate(self.project(base))
