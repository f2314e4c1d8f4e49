"""Features for the global models: everything is computed *at a forecast origin*.

Strategy for a 365-day horizon (direct, origin-anchored): a training row is (series, origin o,
horizon h) with target y[o + h]. Its features are the horizon h, statistics of the series up to
and including o (levels over 7/28/91/364 days, the weekday profile, the share of zero days, the
days since the last sale, last year's shape around o + h taken from days <= o), and what is known
in advance about day o + h (calendar, the region's holidays, planned promotions). One model then
forecasts any day of the year ahead from the same origin, without feeding forecasts back in
(no recursion, so no compounding error) and without any value after o: the leakage test perturbs
everything after the origin and checks the forecasts do not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.panel import KNOWN_COLUMNS, Panel

WINDOWS = (7, 28, 91, 364)
EXTRA_WINDOW_RANGE = (2, 364)  # the feature advisor may add level windows in this range
CATEGORICAL = ("product_group_code", "region_code")


class WindowSums:
    """Cumulative sums for O(1) means over any window of every series (NaN = not observed).

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

    def mean(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Mean over day indices [start, stop) per row; NaN where the window has no data.

        ``start``/``stop`` broadcast against (n_series, k); windows are clipped to the history.
        """
        s, c = self._window(self.sum, start, stop), self._window(self.count, start, stop)
        return np.divide(s, c, out=np.full(np.shape(s), np.nan), where=c > 0)

    def zero_share(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        z, c = self._window(self.zero, start, stop), self._window(self.count, start, stop)
        return np.divide(z, c, out=np.full(np.shape(z), np.nan), where=c > 0)

    def snaive_mae(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Mean |y_t - y_{t-7}| over [start, stop): the seasonal-naive scale of MASE."""
        s = self._window(self.diff.sum, start, stop)
        c = self._window(self.diff.count, start, stop)
        return np.divide(s, c, out=np.full(np.shape(s), np.nan), where=c > 0)

    def _window(self, cum: np.ndarray, start, stop) -> np.ndarray:
        start, stop = np.broadcast_arrays(
            np.clip(np.asarray(start), 0, self.n), np.clip(np.asarray(stop), 0, self.n)
        )
        rows = np.arange(cum.shape[0])[:, None]
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
    o = origin
    h = np.broadcast_to(horizons, (n_s, m))
    t = o + h
    full = lambda v: np.full((n_s, 1), v)  # noqa: E731
    cols: dict[str, np.ndarray] = {"horizon": h}
    levels = {}
    for w in sorted(set(WINDOWS) | set(extra_windows)):
        levels[w] = sums.mean(full(o + 1 - w), full(o + 1))
        cols[f"level_{w}"] = np.broadcast_to(levels[w], (n_s, m))
    cols["snaive_mae_364"] = np.broadcast_to(sums.snaive_mae(full(o - 363), full(o + 1)), (n_s, m))
    cols["zero_share_91"] = np.broadcast_to(sums.zero_share(full(o - 90), full(o + 1)), (n_s, m))
    cols["trend_91_364"] = cols["level_91"] / (cols["level_364"] + 0.1)
    # days since the last sale, capped at a year
    recent = panel.y[:, max(0, o - 364) : o + 1]
    sold = np.nan_to_num(recent) > 0
    last = np.where(sold.any(axis=1), recent.shape[1] - 1 - sold[:, ::-1].argmax(axis=1), 365)
    cols["days_since_sale"] = np.broadcast_to(last[:, None], (n_s, m)).astype(float)
    # the same weekday over the last 8 weeks (t - 7k <= o for k >= ceil(h / 7))
    k0 = -(-h // 7)
    same_day = np.stack([_at(panel.y, t - 7 * (k0 + j)) for j in range(8)])
    with np.errstate(all="ignore"):
        cnt = (~np.isnan(same_day)).sum(axis=0)
        cols["weekday_mean_8"] = np.where(
            cnt > 0, np.nansum(same_day, axis=0) / np.maximum(cnt, 1), np.nan
        )
    # last year: the week around t - 364k, scaled by that year's level before o - 364k
    k = -(-(h + 3) // 364)
    anchor = t - 364 * k
    ly_week = sums.mean(anchor - 3, anchor + 4)
    ly_level = sums.mean(o - 364 * k - 27, o - 364 * k + 1)
    cols["last_year_same_day"] = _at(panel.y, anchor)
    cols["last_year_week"] = ly_week
    cols["last_year_ratio"] = ly_week / (ly_level + 0.1)
    cols["last_year_scaled"] = cols["level_28"] * cols["last_year_ratio"]
    if t.max() >= len(panel.all_dates):
        raise ValueError(
            f"known features end on {panel.all_dates[-1].date()}: too short for h={h.max()}"
        )
    for name in KNOWN_COLUMNS:
        if name in panel.known:
            cols[name] = np.take_along_axis(panel.known[name], t, axis=1)
    for name in CATEGORICAL:
        if name in panel.series:
            cols[name] = np.broadcast_to(panel.series[name].to_numpy()[:, None], (n_s, m))
    frame = pd.DataFrame({c: np.asarray(v, dtype=float).ravel() for c, v in cols.items()})
    frame["_series"] = np.repeat(np.arange(n_s), m)
    frame["_t"] = t.ravel()
    return frame


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
    Big panels are subsampled uniformly to about ``max_rows`` rows (deterministic in ``seed``).
    """
    n = len(panel.dates)
    sums = WindowSums(panel.y)
    last_origin = n - 2
    first_origin = max(56, n - 1 - history_days - max_horizon)
    rng = np.random.default_rng(seed)
    n_origins = len(range(last_origin, first_origin - 1, -origin_step))
    expected = panel.n_series * n_origins * (short_horizons + long_samples)
    keep_share = min(1.0, max_rows / max(expected, 1))
    frames = []
    for o in range(last_origin, first_origin - 1, -origin_step):
        room = min(max_horizon, n - 1 - o)
        short = np.arange(1, min(short_horizons, room) + 1)
        long_pool = np.arange(short_horizons + 1, room + 1)
        picks = rng.choice(long_pool, size=min(long_samples, long_pool.size), replace=False)
        horizons = np.concatenate([short, np.sort(picks)]).astype(int)
        if horizons.size == 0:
            continue
        f = origin_features(panel, sums, o, horizons, extra_windows)
        f["y"] = panel.y[f["_series"].to_numpy(), f["_t"].to_numpy()]
        keep = ~np.isnan(f["y"]) & ~np.isnan(f["level_28"])
        if keep_share < 1.0:
            keep &= rng.random(len(f)) < keep_share
        frames.append(f[keep])
    if not frames:
        raise ValueError("not enough history to build a training set for the global models")
    return pd.concat(frames, ignore_index=True)


def forecast_frame(panel: Panel, h: int, extra_windows: tuple[int, ...] = ()) -> pd.DataFrame:
    """Feature rows for the h days after the end of history, from the last day as origin."""
    return origin_features(
        panel, WindowSums(panel.y), len(panel.dates) - 1, np.arange(1, h + 1), extra_windows
    )


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("_") and c != "y"]


def _at(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """y[s, idx[s, j]] with NaN where idx falls outside the history."""
    n = y.shape[1]
    ok = (idx >= 0) & (idx < n)
    vals = np.take_along_axis(y, np.clip(idx, 0, n - 1), axis=1)
    return np.where(ok, vals, np.nan)
