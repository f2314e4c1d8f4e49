"""Reconciliation with immutable forecasts: planners' numbers held exactly, the rest of the
hierarchy moved as little as MinT's weights allow.

Zhang, Kang, Panagiotelis & Li (2023), "Optimal reconciliation with immutable forecasts",
European Journal of Operational Research 308(2): the coherent forecast closest to a forecast ỹ in
the metric W⁻¹ with some nodes' values fixed,

    min (y - ỹ)' W⁻¹ (y - ỹ)   s.t.   C y = 0 (coherent),   E y = t (the pins),

is y = ỹ + W G' (G W G')⁻¹ (r - G ỹ) with G = [C; E], r = [0; t]. Here ỹ is the run's reconciled
(coherent) forecast, so r - G ỹ = [0; δ], δ = t - E ỹ, and by blocks of G W G' (M = C W C', the
aggregate-space matrix ``AggregateSpaceSolver`` factorises once, B = C W E', D = E W E'):

    λ_E = (D - B' M⁻¹ B)⁻¹ δ,   λ_C = -M⁻¹ B λ_E,   y = ỹ + W (C' λ_C + E' λ_E).

The Schur complement D - B' M⁻¹ B for any subset of the pinned nodes is the principal submatrix
of the one for all of them, so it is formed once and each day takes its pinned nodes' block.

Non-negative: bottom forecasts a day's solution drives below zero are fixed at zero and the day
solved again (an active set), until none is. Fixed at zero, they are eliminated — the same
problem over the hierarchy without them, its base and W conditioned on them — so a round costs
one factorisation of the aggregate space however many series a deep cut at the top zeroes
(pinning them as more constraints instead costs O(k²·n_a) in their number k: minutes at the
medium tier). Pins that cannot all hold with non-negative
forecasts — a child's fixed number above its parent's, two different numbers for nodes with the
same members — are found before solving and named; nothing is silently resolved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as la
from threadpoolctl import threadpool_limits

from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.solve import AggregateSpaceSolver, Covariance

PIN_TOLERANCE = 1e-6  # relative: a pinned node holds its number to this
MAX_ACTIVE_SET_ROUNDS = 50
DENSE_AGGREGATES = 4_000  # a reduced aggregate space up to this size is factorised densely
NEGATIVE = 1e-10  # units: a bottom forecast below -NEGATIVE is pinned at zero (rounding is not)


class Infeasible(ValueError):
    """Pins that cannot all hold: ``pins`` are the (node, day) pairs involved, ``message`` says
    which and why."""

    def __init__(self, message: str, nodes: tuple[int, ...], day: int) -> None:
        super().__init__(message)
        self.nodes, self.day = nodes, day


@dataclass
class Pins:
    """Fixed values: node ``nodes[i]`` (a row of the hierarchy) on day ``days[i]`` (a column of
    the forecast) holds ``values[i]``."""

    nodes: np.ndarray
    days: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        self.nodes = np.asarray(self.nodes, dtype=np.int64)
        self.days = np.asarray(self.days, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=float)
        if np.any(self.values < 0) or not np.all(np.isfinite(self.values)):
            raise ValueError("pinned values must be finite and non-negative")
        key = self.nodes * (self.days.max(initial=0) + 1) + self.days
        if len(np.unique(key)) != len(key):
            raise ValueError("a node is pinned twice on one day")


@dataclass
class Adjusted:
    y: np.ndarray  # (n_nodes, days): coherent, non-negative, every pin held
    zeroed: int = 0  # bottom node-days the active set pinned at zero
    rounds: int = 0  # the most active-set rounds a day needed
    days_solved: int = 0
    # days whose pins could not all hold (left as they were): with ``collect``, not raised
    failed: list[Infeasible] = field(default_factory=list)


def _cholesky(block: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a Schur complement. Dependent pins (nodes with the same
    members pinned alike, a node pinned with all its members) make it singular, and rounding
    can leave it a hair indefinite: a ridge of 1e-10, then 1e-7, of its mean diagonal gives the
    multipliers (whether every pin holds is checked after, so pins that truly conflict are
    still found); None if even that fails."""
    try:
        return la.cholesky(block, lower=True, check_finite=False)
    except la.LinAlgError:
        scale = max(float(np.mean(np.diag(block))), 1e-300)
        for ridge in (1e-10, 1e-7):
            try:
                return la.cholesky(
                    block + ridge * scale * np.eye(len(block)), lower=True, check_finite=False
                )
            except la.LinAlgError:
                continue
        return None


@dataclass
class _Pinned:
    """The pinned nodes of a day (or of days that share them): X = M⁻¹ C W E' and the lower
    Cholesky factor of their Schur complement W[I, I] - B' X."""

    nodes: np.ndarray
    X: np.ndarray
    lower: np.ndarray | None  # None: the pins are dependent (least squares instead)


@dataclass
class _Sub:
    """A hierarchy with some bottom series removed, as much of one as the solver reads."""

    A: object

    @property
    def n_aggregate(self) -> int:
        return self.A.shape[0]


class ImmutableReconciler:
    """Holds a hierarchy and MinT's W = diag(d) + U U'; :meth:`adjust` pins node-days."""

    def __init__(self, h: Hierarchy, W: Covariance) -> None:
        self.h, self.W = h, W
        self.solver = AggregateSpaceSolver(h, W)
        self.d = np.asarray(W.d, dtype=float)
        self.U = None if W.U is None or W.U.shape[1] == 0 else np.asarray(W.U, dtype=float)
        # each node's members (bottom series) as a sparse row: the nested-pins checks
        S = h.S
        self.members = S
        self._a_csc = h.A.tocsc()  # column slices: the hierarchy without some bottom series
        self._m_dense: np.ndarray | None = None  # diag(d_a) + A diag(d_b) A', once
        self.size = np.asarray(S.sum(axis=1)).ravel()
        # per pinned node, kept: C W e_j and M⁻¹ C W e_j, columns of two growing stores
        self.column: dict[int, int] = {}
        self._b = np.zeros((h.n_aggregate, 256))
        self._x = np.zeros((h.n_aggregate, 256))

    # W and C, applied without forming either
    def _w(self, v: np.ndarray) -> np.ndarray:
        out = self.d[:, None] * v
        if self.U is not None:
            out += self.U @ (self.U.T @ v)
        return out

    def _c(self, v: np.ndarray) -> np.ndarray:
        na = self.h.n_aggregate
        return v[:na] - self.h.A @ v[na:]

    def _c_t(self, lam: np.ndarray) -> np.ndarray:
        return np.concatenate([lam, -(self.h.A.T @ lam)])

    def _columns(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B = C W E' and X = M⁻¹ B for ``nodes`` (n_a × k each), computed once per node and
        kept: a node pinned on many days (an override's) is solved for once."""
        new = [int(j) for j in dict.fromkeys(nodes.tolist()) if int(j) not in self.column]
        for chunk in (new[i : i + 512] for i in range(0, len(new), 512)):
            e = np.zeros((self.h.n_nodes, len(chunk)))
            e[chunk, np.arange(len(chunk))] = 1.0
            b = self._c(self._w(e))  # C W e_j
            x = self.solver.solve(b) if self.h.n_aggregate else b
            used = len(self.column)
            if used + len(chunk) > self._b.shape[1]:  # grow the stores (doubling)
                size = max(2 * self._b.shape[1], used + len(chunk))
                self._b = np.hstack([self._b[:, :used], np.zeros((len(b), size - used))])
                self._x = np.hstack([self._x[:, :used], np.zeros((len(x), size - used))])
            self._b[:, used : used + len(chunk)] = b
            self._x[:, used : used + len(chunk)] = x
            for k, j in enumerate(chunk):
                self.column[j] = used + k
        cols = np.fromiter((self.column[int(j)] for j in nodes), dtype=np.int64, count=len(nodes))
        return self._b[:, cols], self._x[:, cols]

    def _w_block(self, nodes: np.ndarray) -> np.ndarray:
        """W[nodes, nodes] (diag(d) + U U' restricted)."""
        if self.U is not None:
            rows = self.U[nodes]
            out = rows @ rows.T
        else:
            out = np.zeros((len(nodes), len(nodes)))
        out[np.diag_indices_from(out)] += self.d[nodes]
        return out

    def _w_pins(self, nodes: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """W E' λ: the pinned nodes' columns of W times their multipliers (n × m)."""
        out = np.zeros((self.h.n_nodes, lam.shape[1]))
        np.add.at(out, nodes, self.d[nodes, None] * lam)
        if self.U is not None:
            out += self.U @ (self.U[nodes].T @ lam)
        return out

    def _block(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X and the Schur complement of pinning ``nodes``, W[I, I] - B_I' M⁻¹ B_I."""
        B, X = self._columns(nodes)
        block = self._w_block(nodes) - B.T @ X
        return X, (block + block.T) / 2

    def _factor(self, nodes: np.ndarray) -> _Pinned:
        X, block = self._block(nodes)
        return _Pinned(nodes, X, _cholesky(block))

    def _solved(
        self, pinned: _Pinned, base: np.ndarray, days: list[int], by_day: dict
    ) -> np.ndarray:
        """The days ``days`` of ``base`` solved with ``pinned``, coherent to rounding (the
        aggregates summed again from the bottom)."""
        targets = np.array([[by_day[d][j] for d in days] for j in pinned.nodes])
        solved = self._solve(pinned, base[:, days], targets)
        return self.h.aggregate(solved[self.h.n_aggregate :]) if self.h.n_aggregate else solved

    def _solve(self, pinned: _Pinned, base: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``base`` (n × m) with ``pinned``'s nodes held at ``targets`` (k × m)."""
        delta = targets - base[pinned.nodes]
        if pinned.lower is not None:
            lam_e = la.cho_solve((pinned.lower, True), delta, check_finite=False)
        else:
            lam_e = la.lstsq(self._block(pinned.nodes)[1], delta)[0]
        lam_c = -pinned.X @ lam_e
        return base + self._w(self._c_t(lam_c)) + self._w_pins(pinned.nodes, lam_e)

    def _without(self, base: np.ndarray, pins: dict[int, float], zero: np.ndarray) -> np.ndarray:
        """One day's ``base`` (n,) with ``pins`` held and the bottom nodes ``zero`` fixed at 0,
        by eliminating them rather than pinning them: fixing y_Z = 0 leaves the same problem over
        the rest R, with the hierarchy's A losing Z's columns, the base conditioned on y_Z = 0,
        m_R = ỹ_R - W_RZ W_ZZ⁻¹ ỹ_Z, and W_RR - W_RZ W_ZZ⁻¹ W_ZR = diag(d_R) + U_R (I + G)⁻¹ U_R'
        with G = U_Z' diag(d_Z)⁻¹ U_Z (Woodbury): still a diagonal plus rank r. Its cost is one
        factorisation of the aggregate space, however many nodes are zeroed (pinning them costs
        O(k²·n_a) in their number k, which a deep cut at the top makes thousands)."""
        h, na = self.h, self.h.n_aggregate
        keep = np.ones(h.n_nodes, dtype=bool)
        keep[zero] = False
        R = np.flatnonzero(keep)
        d_r = self.d[R]
        m = base[R].astype(float)
        U = None
        if self.U is not None:
            U_z, d_z = self.U[zero], self.d[zero]
            inner = np.eye(self.U.shape[1]) + U_z.T @ (U_z / d_z[:, None])  # I + G
            lower = la.cholesky(inner, lower=True, check_finite=False)
            shift = la.cho_solve((lower, True), U_z.T @ (base[zero] / d_z), check_finite=False)
            m -= self.U[R] @ shift
            # (I + G)⁻¹ = L⁻ᵀ L⁻¹, so U_R (I + G)⁻¹ U_R' = (U_R L⁻ᵀ)(U_R L⁻ᵀ)'
            inv = la.solve_triangular(lower, np.eye(len(lower)), lower=True, check_finite=False)
            U = self.U[R] @ inv.T
        A_r = self._a_csc[:, R[na:] - na].tocsr()
        solve = self._aggregate_solver(A_r, d_r, U, zero)

        def c(v: np.ndarray) -> np.ndarray:
            return v[:na] - A_r @ v[na:]

        def c_t(lam: np.ndarray) -> np.ndarray:
            return np.concatenate([lam, -(A_r.T @ lam)])

        def w(v: np.ndarray) -> np.ndarray:
            out = d_r[:, None] * v
            return out + U @ (U.T @ v) if U is not None else out

        at = np.searchsorted(R, np.fromiter(pins, dtype=np.int64, count=len(pins)))
        targets = np.fromiter(pins.values(), dtype=float, count=len(pins))
        # y = m + W G' (G W G')⁻¹ (r - G m), G = [C_R; E], r = [0; t], by the Schur complement
        x0 = solve(-c(m[:, None]))
        if not len(at):
            y_r = m[:, None] + w(c_t(x0))
        else:
            We = np.zeros((len(R), len(at)))  # the pinned nodes' columns of W
            We[at, np.arange(len(at))] = d_r[at]
            if U is not None:
                We += U @ U[at].T
            B = c(We)
            X = solve(B)
            block = We[at] - B.T @ X
            block = (block + block.T) / 2
            rhs = targets[:, None] - m[at, None] - B.T @ x0
            factor = _cholesky(block)
            if factor is not None:
                lam_e = la.cho_solve((factor, True), rhs, check_finite=False)
            else:
                lam_e = la.lstsq(block, rhs)[0]
            y_r = m[:, None] + w(c_t(x0 - X @ lam_e)) + We @ lam_e
        y = np.zeros(h.n_nodes)
        y[R] = y_r[:, 0]
        return h.aggregate(y[na:])

    def _aggregate_solver(self, A_r, d_r: np.ndarray, U: np.ndarray | None, zero: np.ndarray):
        """x ↦ (C_R W' C_R')⁻¹ x for the hierarchy without the bottom series ``zero``: a dense
        Cholesky factor where the aggregate space is small enough (it is refactorised every
        active-set round; a thousand aggregates take milliseconds), the sparse solver otherwise.
        The sparse part diag(d_a) + A diag(d_b) A' is formed once and each round takes the
        removed series' terms out of it."""
        na = self.h.n_aggregate
        if na > DENSE_AGGREGATES:
            return AggregateSpaceSolver(_Sub(A_r), Covariance(d_r, U)).solve
        if self._m_dense is None:
            full = (self.h.A.multiply(self.d[na:]) @ self.h.A.T).toarray()
            full[np.diag_indices(na)] += self.d[:na]
            self._m_dense = full
        A_z = self._a_csc[:, zero - na]
        M = self._m_dense - (A_z.multiply(self.d[zero]) @ A_z.T).toarray()
        if U is not None:
            V = U[:na] - A_r @ U[na:]
            M += V @ V.T
        factor = la.cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
        return lambda r: la.cho_solve(factor, r, check_finite=False)

    def check(self, pins_by_day: dict[int, dict[int, float]]) -> None:
        """Raise :class:`Infeasible` for the first conflict :meth:`conflicts` finds."""
        found = self.conflicts(pins_by_day, first_only=True)
        if found:
            raise found[0]

    def conflicts(
        self, pins_by_day: dict[int, dict[int, float]], first_only: bool = False
    ) -> list[Infeasible]:
        """The pins that cannot all hold, day by day: a node pinned above a node that contains
        it, two nodes with the same members pinned apart, or disjoint nodes inside a pinned
        node whose pins add up to more than it."""
        found: list[Infeasible] = []
        structure: dict[tuple[int, ...], tuple[list, list]] = {}
        for day, pins in pins_by_day.items():
            nodes = tuple(sorted(pins))
            if nodes not in structure:
                structure[nodes] = (self._nesting(nodes), self._disjoint_inside(nodes))
            nested, disjoint = structure[nodes]
            for inner, outer, same in nested:
                a, b = pins[inner], pins[outer]
                tol = PIN_TOLERANCE * max(abs(a), abs(b), 1.0)
                if (same and abs(a - b) > tol) or (not same and a > b + tol):
                    relation = "with the same members as" if same else "inside"
                    found.append(
                        Infeasible(
                            f"{a:.6g} pinned on a node {relation} one pinned at {b:.6g}",
                            (inner, outer),
                            day,
                        )
                    )
            for outer, inside in disjoint:
                total = sum(pins[j] for j in inside)
                if total > pins[outer] * (1 + PIN_TOLERANCE) + PIN_TOLERANCE:
                    found.append(
                        Infeasible(
                            f"{total:.6g} pinned on nodes inside one pinned at {pins[outer]:.6g}",
                            (*inside, outer),
                            day,
                        )
                    )
            if first_only and found:
                return found[:1]
        return found

    def _nesting(self, nodes: tuple[int, ...]) -> list[tuple[int, int, bool]]:
        """(inner, outer, same members) for every nested pair among ``nodes``."""
        if len(nodes) < 2:
            return []
        rows = self.members[list(nodes)]
        shared = (rows @ rows.T).toarray()
        size = self.size[list(nodes)]
        out = []
        for i, a in enumerate(nodes):
            for j, b in enumerate(nodes):
                if i != j and shared[i, j] == size[i] and (size[i] < size[j] or i < j):
                    out.append((a, b, size[i] == size[j]))
        return out

    def _disjoint_inside(self, nodes: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        """For each pinned node, the pinned nodes strictly inside it when they share no member
        (so their pins add up within it)."""
        out = []
        if len(nodes) < 3:
            return out
        rows = self.members[list(nodes)]
        shared = (rows @ rows.T).toarray()
        size = self.size[list(nodes)]
        for j, outer in enumerate(nodes):
            inside = [i for i in range(len(nodes)) if i != j and shared[i, j] == size[i]
                      and size[i] < size[j]]  # fmt: skip
            if len(inside) > 1 and np.count_nonzero(shared[np.ix_(inside, inside)]) == len(inside):
                out.append((outer, tuple(nodes[i] for i in inside)))
        return out

    def adjust(self, y: np.ndarray, pins: Pins, collect: bool = False) -> Adjusted:
        """``y`` (n × days, coherent) with every pin held, coherent and non-negative. A day
        whose pins cannot all hold raises :class:`Infeasible`; with ``collect`` it is left as
        it was and listed in ``failed``, and the other days are solved."""
        # one BLAS thread: the work is many small factorisations (a thousand aggregates), where
        # OpenBLAS's threads cost more than they give (measured with `make bench-overrides` on
        # 2 cores: 62 s with two threads, 22 s with one)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._adjust(y, pins, collect)

    def _adjust(self, y: np.ndarray, pins: Pins, collect: bool) -> Adjusted:
        y = np.array(y, dtype=float, copy=True)
        by_day: dict[int, dict[int, float]] = defaultdict(dict)
        for node, day, value in zip(pins.nodes, pins.days, pins.values, strict=True):
            by_day[int(day)][int(node)] = float(value)
        self.check(by_day)
        na = self.h.n_aggregate
        out = Adjusted(y)
        base = y.copy()
        # the days that share their pins share one factor
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for day, day_pins in by_day.items():
            groups[tuple(sorted(day_pins))].append(day)
        for nodes, days in groups.items():
            pinned = self._factor(np.array(nodes))
            for day, col in zip(days, self._solved(pinned, base, days, by_day).T, strict=True):
                # depth first: a day that drives bottom forecasts below zero pins them at zero
                # and is solved again, its factor extended, until none is: one day at a time
                rounds, own, zero = 1, dict(by_day[day]), np.zeros(0, dtype=np.int64)
                while (low := np.flatnonzero(col[na:] < -NEGATIVE) + na).size:
                    if rounds == MAX_ACTIVE_SET_ROUNDS:
                        break
                    by_day[day].update(dict.fromkeys(low.tolist(), 0.0))
                    out.zeroed += len(low)
                    zero = np.concatenate([zero, low])
                    col = self._without(base[:, day], own, zero)
                    rounds += 1
                out.rounds = max(out.rounds, rounds)
                col = np.maximum(col, 0.0) if not low.size else col
                problem = (
                    self._unheld(col, day, by_day[day])
                    if not low.size
                    else Infeasible(
                        f"the pins could not be held with non-negative forecasts after {rounds} "
                        "rounds",
                        tuple(by_day[day]),
                        day,
                    )
                )
                if problem is None:
                    out.y[:, day] = np.where(np.abs(col) < 1e-12, 0.0, col)
                    out.days_solved += 1
                elif collect:
                    out.failed.append(problem)
                else:
                    raise problem
        # (zero pins fit inside any pinned node: no new conflict to look for; a pinned node
        # they leave no room for is caught by the verification)
        return out

    def _unheld(self, col: np.ndarray, day: int, pins: dict[int, float]) -> Infeasible | None:
        """The day's solution (bottom clipped at zero, aggregates summed) checked: every pin
        held, else the pins that could not be."""
        na = self.h.n_aggregate
        if na:
            col[:na] = self.h.A @ col[na:]
        off = [j for j, v in pins.items() if abs(col[j] - v) > PIN_TOLERANCE * max(abs(v), 1.0)]
        if not off:
            return None
        j = off[0]
        return Infeasible(
            f"the pins cannot all hold: node {j} reached {col[j]:.6g} instead of {pins[j]:.6g}",
            self._related(j, pins),
            day,
        )

    def _related(self, j: int, pins: dict[int, float]) -> tuple[int, ...]:
        """``j`` and the pinned nodes that share a member with it: the pins that compete."""
        nodes = np.array(list(pins))
        shared = (self.members[nodes] @ self.members[j].T).toarray().ravel()
        return (j, *(int(k) for k in nodes[shared > 0] if k != j))


ADJUSTMENT_RANK = 50


def adjustment_weights(
    h: Hierarchy, residuals: np.ndarray, rank: int = ADJUSTMENT_RANK
) -> Covariance:
    """MinT-shrink's W from backtest ``residuals`` (T × n_nodes), its correlated part kept to
    ``rank`` (a truncated SVD; each node's variance kept exact by the diagonal), so a run can
    store it beside its forecast and pins can be applied later: diag(d) + U U' with U n × rank."""
    from sklearn.utils.extmath import randomized_svd

    from ml.reconcile.methods import MinTShrink

    full = MinTShrink().covariance(h, residuals)
    if full.U is None or rank <= 0:
        return Covariance(full.d)
    r = min(rank, *full.U.shape)
    if r == min(full.U.shape):
        u, s, _ = np.linalg.svd(full.U, full_matrices=False)
    else:  # the top singular vectors only: O(n·T·rank), not O(n·T²)
        u, s, _ = randomized_svd(full.U, r, n_iter=4, random_state=0)
    low = u[:, :r] * s[:r]
    kept = (low**2).sum(axis=1)
    total = (full.U**2).sum(axis=1)
    return Covariance(full.d + np.maximum(total - kept, 0.0), low)
