"""Closed days as a forecast, not a hole: each restaurant's chance of being open on a day ahead.

Models forecast what a restaurant sells on a day it is open (they learn from open days only:
``y`` is NaN on closed ones). This module learns, from the open/closed history alone
(``Panel.open``), the probability that the restaurant opens on each forecast day:

- the **weekday pattern**: the share of the last ``WEEKS`` same weekdays it was open, leaving out
  closure spells of ``SPELL_DAYS`` or more days in a row (a refit says nothing about Sundays);
- **recurring closures**: a day closed on the same calendar date in every earlier year (at least
  one when the day is a public holiday, such as Christmas; at least two otherwise, such as a
  seasonal closure);
- **known closures**: closures scheduled ahead (``Panel.open`` = 0 after the history) are 0.

A series whose open/closed history is all unknown (an aggregate node spanning restaurants) gets 1.

The served forecast is then the mixture: closed (0 units) with probability 1 - p, the open-day
distribution with probability p. Its point is the expected value p × the open-day point (it adds
up through the hierarchy), its quantiles are the mixture's, and a day certain to be closed is 0
with a zero-width band. Backtests use the learned pattern only (which closures were scheduled in
advance is not recorded), so their scores never profit from a closure the run could not have known.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ml.panel import Panel

WEEKS = 13
SPELL_DAYS = 3
MIN_WEEKDAY_OBS = 3


def open_probability(panel: Panel, h: int) -> np.ndarray | None:
    """P(open) for the ``h`` days after the origin, (n_series, h); None when the panel carries no
    open/closed history."""
    if panel.open is None:
        return None
    n = len(panel.dates)
    # compute once per distinct open/closed history (a restaurant's rows are identical)
    rows, inverse = _distinct_rows(panel.open[:, :n])
    hist = flags(panel.open[rows, :n])
    p = _weekday_pattern(hist, n, h)[inverse]
    return np.where(_closed_ahead(panel, h, hist, rows, inverse), 0.0, p)


def closed_ahead(panel: Panel, h: int) -> np.ndarray:
    """(n_series, h) True on the days after the origin known to be closed: recurring closures
    (learned from the history, so a backtest fold knows them too) and, on an untruncated panel,
    closures scheduled ahead. The openness forecast makes these 0; the global models' features
    read them too (``ml.gbm_features.after_closure``)."""
    if panel.open is None:
        return np.zeros((panel.n_series, h), dtype=bool)
    n = len(panel.dates)
    rows, inverse = _distinct_rows(panel.open[:, :n])
    return _closed_ahead(panel, h, flags(panel.open[rows, :n]), rows, inverse)


def _closed_ahead(panel: Panel, h: int, hist, rows, inverse) -> np.ndarray:
    """``closed_ahead`` on the distinct open/closed histories ``hist`` (rows ``rows`` of the panel;
    ``inverse`` maps every series to its one), found once by the caller."""
    n = len(panel.dates)
    out = _recurring_closed(hist, panel, n, h, rows)[inverse]
    if panel.open_ahead:  # closures scheduled ahead
        stop = min(n + h, panel.open.shape[1])
        out[:, : stop - n] |= panel.open[:, n:stop] == 0
    return out


def flags(a: np.ndarray) -> np.ndarray:
    """int8 open flags (1 / 0 / -1 unknown) as floats with NaN for unknown."""
    return np.where(a < 0, np.nan, a.astype(float))


def with_openness(dist: tuple[np.ndarray, ...], p: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """(point, q10, q50, q90) of the open-day distribution -> those of the mixture with a point
    mass at 0 of weight 1 - p. The point is the expected value; the band holds it."""
    if p is None:
        return dist
    point, lo, med, hi = (np.asarray(a, float) for a in dist)
    # in float64: a float32 p of 1 moved a band's edge of exactly 1 unit to 0.99999994, and an
    # intermittent item's sale of 1 fell outside it (claimed coverage 0.52 for a realised 0.81)
    p = np.clip(np.broadcast_to(np.asarray(p, dtype=float), point.shape), 0.0, 1.0)
    q = [_mixture_quantile(tau, p, lo, med, hi) for tau in (0.1, 0.5, 0.9)]
    # certain to open: the open-day quantiles themselves, not an interpolation that lands an
    # ulp away from them
    q = [np.where(p >= 1.0, a, b) for a, b in zip((lo, med, hi), q, strict=True)]
    q = [np.where(np.isnan(a), np.nan, b) for a, b in zip((lo, med, hi), q, strict=True)]
    expected = p * point
    return (
        expected,
        np.minimum(q[0], expected),
        q[1],
        np.maximum(q[2], expected),
    )


def _mixture_quantile(tau: float, p, lo, med, hi) -> np.ndarray:
    """Quantile ``tau`` of (1 - p)·δ0 + p·F, with F known at 0.1 / 0.5 / 0.9 (piecewise linear
    between, extrapolated below 0.1 and floored at 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = 1.0 - (1.0 - tau) / p  # the level of F that the mixture's tau falls on
        below = lo - (0.1 - t) / 0.4 * (med - lo)
        mid = lo + (t - 0.1) / 0.4 * (med - lo)
        top = med + (t - 0.5) / 0.4 * (hi - med)
    value = np.where(t < 0.1, below, np.where(t < 0.5, mid, top))
    return np.where((p <= 0) | (t <= 0), 0.0, np.maximum(value, 0.0))


def _distinct_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct row of ``a``, and each row's distinct number."""
    flat = np.ascontiguousarray(a)
    keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    first = np.unique(codes, return_index=True)[1]
    return first, codes


def _weekday_pattern(hist: np.ndarray, n: int, h: int) -> np.ndarray:
    """Share of the last ``WEEKS`` same weekdays open (spells of closure left out); the share over
    the whole window where a weekday has fewer than ``MIN_WEEKDAY_OBS`` days; 1 without any."""
    span = min(n, 7 * WEEKS)
    window = hist[:, n - span :].copy()
    window[_in_spell(window)] = np.nan
    seen = ~np.isnan(window)
    overall_n = seen.sum(axis=1)
    overall = np.divide(
        np.where(seen, window, 0).sum(axis=1),
        overall_n,
        out=np.ones(len(hist)),
        where=overall_n > 0,
    )
    p = np.empty((len(hist), h))
    for k in range(min(7, h)):
        # forecast day k + 7j falls on the weekday of window column span - 7 + k (and every 7th)
        cols = np.arange((span - 7 + k) % 7, span, 7)
        cnt = seen[:, cols].sum(axis=1)
        share = np.divide(
            np.where(seen[:, cols], window[:, cols], 0).sum(axis=1),
            cnt,
            out=overall.copy(),
            where=cnt >= MIN_WEEKDAY_OBS,
        )
        p[:, k::7] = share[:, None]
    return p


def _in_spell(window: np.ndarray) -> np.ndarray:
    """Closed days that belong to a run of ``SPELL_DAYS`` or more closed days in a row."""
    closed = window == 0
    out = np.zeros_like(closed)
    run = np.zeros(len(window), dtype=int)
    for j in range(closed.shape[1]):  # run length ending at j
        run = np.where(closed[:, j], run + 1, 0)
        out[:, j] = run >= SPELL_DAYS
    # mark the first SPELL_DAYS - 1 days of each run too
    for back in range(1, SPELL_DAYS):
        out[:, :-back] |= out[:, back:] & closed[:, :-back]
    return out


def _recurring_closed(hist, panel: Panel, n: int, h: int, rows) -> np.ndarray:
    """Forecast days closed on the same calendar date in every earlier year the restaurant was
    seen (>= 1 year on a public holiday, >= 2 years otherwise)."""
    future = panel.future_dates(h)
    closed_years = np.zeros((len(hist), h), dtype=int)
    seen_years = np.zeros((len(hist), h), dtype=int)
    for back in range(1, 6):
        past = _same_date_years_back(future, back)
        idx = ((past - panel.dates[0]).days).to_numpy()
        ok = (idx >= 0) & (idx < n)
        if not ok.any():
            break
        vals = np.full((len(hist), h), np.nan)
        vals[:, ok] = hist[:, idx[ok]]
        seen_years += ~np.isnan(vals)
        closed_years += vals == 0
    holiday = np.zeros((len(hist), h), dtype=bool)
    if "is_holiday" in panel.known and panel.known["is_holiday"].shape[1] >= n + h:
        holiday = np.nan_to_num(panel.known["is_holiday"][rows, n : n + h]) > 0
    need = np.where(holiday, 1, 2)
    return (seen_years >= need) & (closed_years == seen_years)


def _same_date_years_back(dates: pd.DatetimeIndex, years: int) -> pd.DatetimeIndex:
    """The same month and day ``years`` earlier (29 February -> 28 February)."""
    return pd.DatetimeIndex(
        [
            d.replace(year=d.year - years)
            if not (d.month == 2 and d.day == 29)
            else d.replace(year=d.year - years, day=28)
            for d in dates
        ]
    )
