"""Features for the global models: everything is computed *at a forecast origin*.

Strategy for a 365-day horizon (direct, origin-anchored): a training row is (series, origin o,
horizon h) with target y[o + h]. Its features are the horizon h, statistics of the series up to
and including o (levels over 7/28/91/364 days, the weekday profile, the share of zero days, the
days since the last sale, last year's shape around o + h taken from days <= o), and what is known
in advance about day o + h (calendar, the region's holidays, planned promotions and prices). One
model then forecasts any day of the year ahead from the same origin, without feeding forecasts
back in (no recursion, so no compounding error) and without any value after o: the leakage test
perturbs everything after the origin and checks the forecasts do not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.openness import closed_ahead
from ml.panel import KNOWN_COLUMNS, Panel

WINDOWS = (7, 28, 91, 364)
EXTRA_WINDOW_RANGE = (2, 364)  # the feature advisor may add level windows in this range
CATEGORICAL = ("product_group_code", "region_code")
PRICE_INPUTS = ("list_price",)  # read as ratios by price_features, never as a level
# known columns read through a derived feature only (price ratios, the same holiday last year)
DERIVED_ONLY = (*PRICE_INPUTS, "holiday_days_back")
# An economic prior the trees must keep: a dearer day never sells more, a deeper discount never
# less. Unconstrained, the 8-series test panel learned a 25 % rise as +21 % (price rises go with
# the years, and so does growth) and a 20 % cut as -5 %.
MONOTONE = {
    "price_vs_recent": -1,
    "list_price_vs_year": -1,
    "list_price_vs_group": -1,
    "discount_pct": 1,
}


class NotEnoughHistory(ValueError):
    """The history is too short for the global models' training set."""


class WindowSums:
    """Cumulative sums for O(1) means over any window of any series (NaN = not observed).

    The ``*_at`` methods take flat arrays: row i is the window [start[i], stop[i]) of series
    rows[i], clipped to the history.

    ``diff`` holds the same for |y_t - y_{t-7}|, the in-sample seasonal-naive error: its mean
    over a window is the series' MASE scale as of that window's end.
    """

    def __init__(self, y: np.ndarray) -> None:
        d = np.full_like(y, np.nan)
        d[:, 7:] = np.abs(y[:, 7:] - y[:, :-7])
        self.diff = _Cum(d)
        obs = ~np.isnan(y)
        zeros = np.zeros((y.shape[0], 1))
        self.sum = np.hstack([zeros, np.cumsum(np.where(obs, y, 0.0), axis=1)])
        self.count = np.hstack([zeros, np.cumsum(obs, axis=1)])
        self.zero = np.hstack([zeros, np.cumsum(obs & (y == 0), axis=1)])
        self.n = y.shape[1]

    def mean_at(self, rows: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Mean over each row's window; NaN where the window has no data."""
        s, c = (
            self._window_at(self.sum, rows, start, stop),
            self._window_at(self.count, rows, start, stop),
        )
        return np.divide(s, c, out=np.full(np.shape(s), np.nan), where=c > 0)

    def zero_share_at(self, rows: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        z, c = (
            self._window_at(self.zero, rows, start, stop),
            self._window_at(self.count, rows, start, stop),
        )
        return np.divide(z, c, out=np.full(np.shape(z), np.nan), where=c > 0)

    def snaive_mae_at(self, rows: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        s = self._window_at(self.diff.sum, rows, start, stop)
        c = self._window_at(self.diff.count, rows, start, stop)
        return np.divide(s, c, out=np.full(np.shape(s), np.nan), where=c > 0)

    def _window_at(self, cum: np.ndarray, rows, start, stop) -> np.ndarray:
        start, stop = np.clip(start, 0, self.n), np.clip(stop, 0, self.n)
        return cum[rows, stop] - cum[rows, start]


class _Cum:
    def __init__(self, a: np.ndarray) -> None:
        obs = ~np.isnan(a)
        zeros = np.zeros((a.shape[0], 1))
        self.sum = np.hstack([zeros, np.cumsum(np.where(obs, a, 0.0), axis=1)])
        self.count = np.hstack([zeros, np.cumsum(obs, axis=1)])


def origin_features(
    panel: Panel,
    sums: WindowSums,
    origin: int,
    horizons: np.ndarray,
    extra_windows: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Feature rows for every series × horizon from ``origin``; uses y[:, : origin + 1] only."""
    n_s, m = panel.n_series, len(horizons)
    series = np.repeat(np.arange(n_s), m)
    return features_at(panel, sums, origin, series, np.tile(horizons, n_s), extra_windows)


def features_at(
    panel: Panel,
    sums: WindowSums,
    origin: int,
    series: np.ndarray,
    h: np.ndarray,
    extra_windows: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Feature rows for the (series, horizon) pairs given as two flat arrays, from ``origin``.

    Statistics of a series up to the origin are computed once per series and gathered; only what
    depends on the target day o + h is computed per row, so a subsample costs what it keeps.
    """
    o = origin
    n_s = panel.n_series
    t = o + h
    every = np.arange(n_s)
    full = lambda v: np.full(n_s, v)  # noqa: E731
    cols: dict[str, np.ndarray] = {"horizon": h}
    levels = {}
    for w in sorted(set(WINDOWS) | set(extra_windows)):
        levels[w] = sums.mean_at(every, full(o + 1 - w), full(o + 1))
        cols[f"level_{w}"] = levels[w][series]
    cols["snaive_mae_364"] = sums.snaive_mae_at(every, full(o - 363), full(o + 1))[series]
    cols["zero_share_91"] = sums.zero_share_at(every, full(o - 90), full(o + 1))[series]
    cols["trend_91_364"] = cols["level_91"] / (cols["level_364"] + 0.1)
    # days since the last sale, capped at a year
    recent = panel.y[:, max(0, o - 364) : o + 1]
    sold = np.nan_to_num(recent) > 0
    last = np.where(sold.any(axis=1), recent.shape[1] - 1 - sold[:, ::-1].argmax(axis=1), 365)
    cols["days_since_sale"] = last[series].astype(float)
    # the same weekday over the last 8 weeks (t - 7k <= o for k >= ceil(h / 7))
    k0 = -(-h // 7)
    same_day = np.stack([_at_rows(panel.y, series, t - 7 * (k0 + j)) for j in range(8)])
    with np.errstate(all="ignore"):
        cnt = (~np.isnan(same_day)).sum(axis=0)
        cols["weekday_mean_8"] = np.where(
            cnt > 0, np.nansum(same_day, axis=0) / np.maximum(cnt, 1), np.nan
        )
    # last year: the week around t - 364k, scaled by that year's level before o - 364k
    k = -(-(h + 3) // 364)
    anchor = t - 364 * k
    ly_week = sums.mean_at(series, anchor - 3, anchor + 4)
    ly_level = sums.mean_at(series, o - 364 * k - 27, o - 364 * k + 1)
    cols["last_year_same_day"] = _at_rows(panel.y, series, anchor)
    cols["last_year_week"] = ly_week
    cols["last_year_ratio"] = ly_week / (ly_level + 0.1)
    cols["last_year_scaled"] = cols["level_28"] * cols["last_year_ratio"]
    if t.size and t.max() >= len(panel.all_dates):
        raise ValueError(
            f"known features end on {panel.all_dates[-1].date()}: too short for h={h.max()}"
        )
    for name in KNOWN_COLUMNS:
        if name in panel.known and name not in DERIVED_ONLY:
            cols[name] = panel.known[name][series, t]
    if "holiday_days_back" in panel.known:
        cols.update(holiday_features(panel, sums, o, series, t, cols["level_28"]))
    if panel.open is not None:
        cols["after_closure"] = after_closure(panel, series, t)
    if "list_price" in panel.known:
        cols.update(price_features(panel, o, series, t))
    for name in CATEGORICAL:
        if name in panel.series:
            cols[name] = panel.series[name].to_numpy()[series]
    frame = pd.DataFrame({c: np.asarray(v, dtype=float) for c, v in cols.items()})
    frame["_series"] = series
    frame["_t"] = t
    return frame


def price_features(
    panel: Panel, origin: int, series: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """Price drivers of day t as seen from the origin (the M5 winners' price features).

    The price paid on day t (list price less any promotion discount, both known ahead) against
    the item's mean over the 28 days up to the origin; its list price against its mean over the
    year up to the origin; and that change against its product group's (a rise of one burger
    among unchanged burgers loses more than a rise of the whole menu). Only known-in-advance
    arrays are read, and only up to the origin for the references.
    """
    o = origin
    lp = panel.known["list_price"]
    disc = panel.known.get("discount_pct")
    window = slice(max(0, o - 27), o + 1)
    # the price paid on the few cells read, not on the whole (series × day) array per origin
    paid_window, paid_t = lp[:, window], lp[series, t]
    if disc is not None:
        paid_window = paid_window * (1 - np.nan_to_num(disc[:, window]) / 100)
        paid_t = paid_t * (1 - np.nan_to_num(disc[series, t]) / 100)
    with np.errstate(all="ignore"):
        recent = np.nanmean(paid_window, axis=1)
        year = np.nanmean(lp[:, max(0, o - 363) : o + 1], axis=1)
        list_vs_year = lp[series, t] / year[series]
        # the group's mean change on each target day, over its series
        days, at = np.unique(t, return_inverse=True)
        change = lp[:, days] / year[:, None]
        groups = (
            panel.series["product_group_code"].to_numpy()
            if "product_group_code" in panel.series
            else np.zeros(panel.n_series, dtype=int)
        )
        codes, g = np.unique(groups, return_inverse=True)
        # sums per group as one product with the (group × series) membership matrix: np.add.at
        # over every series took 4.7 s of a chain-tier year's prediction
        member = (g[None, :] == np.arange(len(codes))[:, None]).astype(float)
        group_change = (member @ np.nan_to_num(change)) / (member @ ~np.isnan(change))
        return {
            "price_vs_recent": paid_t / recent[series],
            "list_price_vs_year": list_vs_year,
            "list_price_vs_group": list_vs_year / group_change[g[series], at],
        }


def holiday_features(
    panel: Panel, sums: WindowSums, origin: int, series, t, level_28
) -> dict[str, np.ndarray]:
    """Around a holiday, last year's sales on the same day around the same holiday (Easter,
    Golden Week and bank-holiday Mondays move, so 364 days back is the wrong day), relative to
    the 28 days before it, and that ratio on today's level. NaN elsewhere, or when that day lies
    after the origin."""
    back = panel.known["holiday_days_back"][series, t]
    day = t - np.nan_to_num(back, nan=10**6).astype(int)
    day = np.where(day <= origin, day, -1)  # -1: outside the history, NaN below
    with np.errstate(all="ignore"):
        ratio = _at_rows(panel.y, series, day) / (sums.mean_at(series, day - 28, day) + 0.1)
    return {"holiday_last_year_ratio": ratio, "holiday_last_year_scaled": level_28 * ratio}


def after_closure(panel: Panel, series: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1.0 on the day after an occasional closure (one on a weekday the restaurant opened the
    week before: a refit, a holiday closure; not its regular closing day). A closure in the
    panel's history counts as planned ahead, so training rows see it as a forecast sees one
    scheduled after the history or recurring (Christmas: ``ml.openness.closed_ahead``); a
    truncated panel (a backtest fold) knows only the recurring ones after its end."""
    n = len(panel.dates)
    before, week_before = t - 1, t - 8
    in_history = panel.open[series, np.minimum(before, n - 1)] == 0
    closed = np.where(before < n, in_history, False)
    if (before >= n).any():
        ahead = closed_ahead(panel, int(before.max()) - n + 1)
        late = before >= n
        closed[late] = ahead[series[late], before[late] - n]
    opened = panel.open[series, week_before] != 0  # open, or unknown (ahead): not regular
    return (closed & opened).astype(float)


def training_frame(
    panel: Panel,
    max_horizon: int,
    *,
    origin_step: int = 14,
    history_days: int = 728,
    short_horizons: int = 28,
    long_samples: int = 16,
    max_rows: int = 400_000,
    seed: int = 0,
    extra_windows: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Rows (series, origin, horizon) with target ``y`` from origins inside the history.

    Every horizon 1..``short_horizons`` and ``long_samples`` random longer ones per origin; the
    target day o + h always lies in the history, and rows whose target is unobserved are dropped.
    Big panels are subsampled uniformly to about ``max_rows`` rows (deterministic in ``seed``):
    the sample is drawn first and features are computed for the kept rows only.
    """
    n = len(panel.dates)
    sums = WindowSums(panel.y)
    last_origin = n - 2
    first_origin = max(56, n - 1 - history_days - max_horizon)
    rng = np.random.default_rng(seed)
    n_origins = len(range(last_origin, first_origin - 1, -origin_step))
    expected = panel.n_series * n_origins * (short_horizons + long_samples)
    keep_share = min(1.0, max_rows / max(expected, 1))
    every = np.arange(panel.n_series)
    frames = []
    for o in range(last_origin, first_origin - 1, -origin_step):
        room = min(max_horizon, n - 1 - o)
        short = np.arange(1, min(short_horizons, room) + 1)
        long_pool = np.arange(short_horizons + 1, room + 1)
        picks = rng.choice(long_pool, size=min(long_samples, long_pool.size), replace=False)
        horizons = np.concatenate([short, np.sort(picks)]).astype(int)
        if horizons.size == 0:
            continue
        m = horizons.size
        series = np.repeat(every, m)
        h = np.tile(horizons, panel.n_series)
        y = panel.y[series, o + h]
        level_28 = sums.mean_at(
            every, np.full(panel.n_series, o - 27), np.full(panel.n_series, o + 1)
        )
        keep = ~np.isnan(y) & ~np.isnan(level_28[series])
        if keep_share < 1.0:
            keep &= rng.random(keep.size) < keep_share
        f = features_at(panel, sums, o, series[keep], h[keep], extra_windows)
        f["y"] = y[keep]
        # how many forecast days a row stands for: 1 for each short horizon, the rest of the
        # origin's horizons shared by its long samples (the horizon-aware weight)
        share = max(room - short.size, 0) / max(picks.size, 1)
        f["_horizon_weight"] = np.where(h[keep] <= short_horizons, 1.0, share)
        frames.append(f)
    rows = pd.concat(frames, ignore_index=True) if frames else None
    if rows is None or rows.empty:
        # no origin, or none with an observed target and a recent level (a series whose first
        # sales came in the last weeks): a fact of the history, counted as a failure by the model
        raise NotEnoughHistory(
            f"{n} days of history hold no training row for the global models"
            " (they need 56 days before the first origin and observed days after it)"
        )
    return rows


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("_") and c != "y"]


def _at_rows(y: np.ndarray, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """y[rows[i], idx[i]] with NaN where idx falls outside the history."""
    n = y.shape[1]
    ok = (idx >= 0) & (idx < n)
    return np.where(ok, y[rows, np.clip(idx, 0, n - 1)], np.nan)
