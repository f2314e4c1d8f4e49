"""Planners' overrides applied to a run's statistical forecast: each override becomes fixed
node-days (pins), the hierarchy is reconciled around them (``ml.reconcile.immutable``), and each
override's outcome is recorded — held, or rejected with the reason and the override it clashes
with. Nothing is resolved silently: a pair that cannot hold together is rejected, both named, and
the others still apply.

Kinds, over the days of an override's range that the run forecasts:
- ``set_total``: the range's total is ``value``, spread over its days in the shape of the
  statistical forecast (evenly where that is zero);
- ``scale``: each day is the statistical forecast times ``value``;
- ``set_daily``: each day is ``value``.

The 80 % band and the median move with the adjustment: scaled by adjusted / statistical where the
statistical forecast is positive, shifted by the difference where it is zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.immutable import Adjusted, ImmutableReconciler, Pins
from ml.reconcile.solve import Covariance

KINDS = ("set_total", "scale", "set_daily")
OVERRIDE_COLUMNS = [
    "override_id", "level", "node_key", "date_from", "date_to", "kind", "value", "author",
    "expires_on",
]  # fmt: skip
OUTCOME_COLUMNS = ["override_id", "applied", "days", "message"]


@dataclass
class OverrideResult:
    yhat: np.ndarray  # (nodes, days) adjusted, coherent, non-negative
    q50: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    pinned: np.ndarray  # (nodes, days) True where an override holds the node-day
    outcomes: pd.DataFrame  # OUTCOME_COLUMNS, one row per override given
    adjusted: Adjusted | None = None


def describe(o) -> str:
    """An override as a planner reads it."""
    what = {"set_total": "total", "scale": "x", "set_daily": "a day"}[o.kind]
    value = f"x{o.value:g}" if o.kind == "scale" else f"{what} {o.value:,.6g}"
    return (
        f"override {o.override_id} ({o.level} {o.node_key}, {o.date_from}..{o.date_to}, "
        f"{value}, by {o.author})"
    )


def override_targets(kind: str, value: float, stat: np.ndarray) -> np.ndarray:
    """An override's number for each of its days, from the statistical forecast ``stat``."""
    if kind == "scale":
        return stat * value
    if kind == "set_daily":
        return np.full(len(stat), value)
    total = stat.sum()
    return value * (stat / total if total > 0 else np.full(len(stat), 1 / len(stat)))


def apply_overrides(
    h: Hierarchy,
    W: Covariance,
    dates: pd.DatetimeIndex,
    yhat: np.ndarray,
    bands: tuple[np.ndarray, np.ndarray, np.ndarray],
    overrides: pd.DataFrame,
    as_of: date,
) -> OverrideResult:
    """Apply ``overrides`` (``OVERRIDE_COLUMNS``) to the statistical forecast ``yhat`` of every
    node of ``h`` on ``dates`` (its columns) with ``bands`` = (q50, lo80, hi80) of the same
    shape; ``as_of`` decides which have expired."""
    n, n_days = yhat.shape
    outcomes: dict[int, tuple[bool, int, str]] = {}
    index = h.node_index()
    day_of = {d.date(): i for i, d in enumerate(dates)}
    first, last = (dates[0].date(), dates[-1].date()) if n_days else (None, None)
    pins: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # id -> node, days, targets
    notes: dict[int, str] = {}
    live = []
    for o in overrides.itertuples(index=False):
        oid = int(o.override_id)
        if o.kind not in KINDS:
            outcomes[oid] = (False, 0, f"not applied: unknown kind {o.kind!r}")
        elif o.expires_on is not None and not pd.isna(o.expires_on) and o.expires_on < as_of:
            outcomes[oid] = (False, 0, f"not applied: expired on {o.expires_on}")
        elif (o.level, o.node_key) not in index:
            outcomes[oid] = (
                False, 0, f"not applied: {o.level} {o.node_key} is not in this run's forecast"
            )  # fmt: skip
        else:
            days = [day_of[d] for d in pd.date_range(o.date_from, o.date_to).date if d in day_of]
            if not days:
                outcomes[oid] = (
                    False, 0,
                    f"not applied: its days are outside this run's forecast ({first}..{last})",
                )  # fmt: skip
                continue
            node = index[(o.level, o.node_key)]
            days = np.array(days)
            pins[oid] = (node, days, override_targets(o.kind, float(o.value), yhat[node, days]))
            span = (o.date_to - o.date_from).days + 1
            if len(days) < span:
                notes[oid] = (
                    f"; {span - len(days)} of its {span} days are outside this run's forecast "
                    f"({first}..{last})" + (", its total holds over the rest" if o.kind ==
                                            "set_total" else "")
                )  # fmt: skip
            live.append(o)
    by_id = {int(o.override_id): o for o in live}
    _reject_overlaps(by_id, pins, outcomes)
    reconciler = ImmutableReconciler(h, W)
    _reject_conflicts(reconciler, by_id, pins, outcomes, dates)
    out = yhat.copy()
    adjusted = None
    redo = None  # days to solve (again): all the pinned days first, then those a rejection freed
    while True:
        held = [oid for oid in pins if oid not in outcomes]
        owner = {}  # (node, day) -> override
        for oid in held:
            node, days, _ = pins[oid]
            owner.update({(node, int(d)): oid for d in days})
        if not held:  # the days the rejected overrides had are the statistical forecast
            if redo:
                out[:, sorted(redo)] = yhat[:, sorted(redo)]
            break
        nodes = np.concatenate([np.full(len(pins[i][1]), pins[i][0]) for i in held])
        days = np.concatenate([pins[i][1] for i in held])
        values = np.concatenate([pins[i][2] for i in held])
        cols = np.unique(days) if redo is None else np.asarray(sorted(redo), dtype=np.int64)
        keep = np.isin(days, cols)
        local = np.searchsorted(cols, days[keep])
        out[:, cols] = yhat[:, cols]  # a day that lost its pins is the statistical forecast
        adjusted = reconciler.adjust(
            yhat[:, cols], Pins(nodes[keep], local, values[keep]), collect=True
        )
        solved = np.setdiff1d(np.arange(len(cols)), [f.day for f in adjusted.failed])
        out[:, cols[solved]] = adjusted.y[:, solved]
        if not adjusted.failed:
            break
        # the overrides whose pins could not hold on a day: rejected, each naming the others;
        # only the days they had pins on are solved again
        freed: set[int] = set()
        for exc in adjusted.failed:
            day = int(cols[exc.day])
            involved = sorted({owner[(j, day)] for j in exc.nodes if (j, day) in owner})
            if not involved:  # only zero pins failed: every override pinned that day competed
                involved = sorted({o for (_, d), o in owner.items() if d == day})
            if not involved:  # cannot happen: a day is solved for its pins; never loop for ever
                raise exc
            names = {i: describe(by_id[i]) for i in involved}
            for oid in involved:
                if oid in outcomes:
                    continue
                others = "; ".join(v for k, v in names.items() if k != oid) or "the forecast"
                outcomes[oid] = (
                    False,
                    0,
                    f"rejected: cannot hold together with {others} on {dates[day].date()} ({exc})",
                )
                freed.update(int(d) for d in pins[oid][1])
        redo = freed
    for oid in pins:
        if oid not in outcomes:
            days_held = len(pins[oid][1])
            outcomes[oid] = (True, days_held, f"held on {days_held} days" + notes.get(oid, ""))
    pinned = np.zeros((n, n_days), dtype=bool)
    for oid, (node, days, _) in pins.items():
        if outcomes[oid][0]:
            pinned[node, days] = True
    q50, lo, hi = (_moved(band, yhat, out) for band in bands)
    frame = pd.DataFrame(
        [(oid, *outcomes[oid]) for oid in overrides["override_id"].astype(int)],
        columns=OUTCOME_COLUMNS,
    )
    return OverrideResult(out, q50, lo, hi, pinned, frame, adjusted)


def _reject_conflicts(reconciler, by_id: dict, pins: dict, outcomes: dict, dates) -> None:
    """Every set of overrides whose numbers cannot hold together on some day (nested numbers
    that do not fit, disjoint ones adding up to more than their container): all rejected, each
    naming the others, before anything is solved."""
    while True:
        held = [oid for oid in pins if oid not in outcomes]
        by_day: dict[int, dict[int, float]] = {}
        owner: dict[tuple[int, int], int] = {}
        for oid in held:
            node, days, targets = pins[oid]
            for d, t in zip(days.tolist(), targets.tolist(), strict=True):
                by_day.setdefault(d, {})[node] = t
                owner[(node, d)] = oid
        found = reconciler.conflicts(by_day)
        if not found:
            return
        for exc in found:
            involved = sorted({owner[(j, exc.day)] for j in exc.nodes} - set(outcomes))
            if len(involved) < 2:
                continue
            names = {i: describe(by_id[i]) for i in involved}
            for oid in involved:
                others = "; ".join(v for k, v in names.items() if k != oid)
                outcomes[oid] = (
                    False,
                    0,
                    f"rejected: cannot hold together with {others} on "
                    f"{dates[exc.day].date()} ({exc})",
                )


def _reject_overlaps(by_id: dict, pins: dict, outcomes: dict) -> None:
    """Two overrides of one node on the same day: both rejected, each naming the other (the
    warehouse refuses them at insert; this holds for overrides from anywhere)."""
    seen: dict[tuple[int, int], int] = {}
    for oid, (node, days, _) in pins.items():
        for d in days:
            other = seen.setdefault((node, int(d)), oid)
            if other != oid:
                for a, b in ((oid, other), (other, oid)):
                    outcomes[a] = (
                        False, 0, f"rejected: overlaps {describe(by_id[b])} on the same node"
                    )  # fmt: skip


def _moved(band: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """A band moved with the forecast: scaled where the statistical forecast is positive,
    shifted where it is zero; never below zero."""
    positive = before > 0
    ratio = np.divide(after, before, out=np.ones_like(after), where=positive)
    moved = np.where(positive, band * ratio, band + (after - before))
    return np.maximum(moved, 0.0)
