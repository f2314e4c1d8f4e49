"""Baselines: the seasonal naive forecast everything is compared to, and a weekday mean."""

from __future__ import annotations

import numpy as np

from ml.models.base import NO_HISTORY, Forecaster
from ml.panel import Panel, fill_closed_days, nanmean


class SeasonalNaive(Forecaster):
    """Repeat the last season: the last week, or the same days a year (52 weeks) earlier.

    ``yearly=True`` uses the days 364 earlier (same weekday) where a series has a year of history
    and falls back to the weekly repeat elsewhere. Closed days are filled with the same weekday of
    an earlier week first, so a closure is not repeated into the future.
    """

    def __init__(self, yearly: bool = False) -> None:
        self.yearly = yearly
        self.name = "snaive_yearly" if yearly else "snaive"

    def fit(self, panel: Panel) -> SeasonalNaive:
        self._y = fill_closed_days(panel.y)
        self._first = panel.first_observed()
        return self

    def _unseen(self, out: np.ndarray) -> np.ndarray:
        """Series without a single observed day get NaN, counted as failures (not 0 units)."""
        unseen = self._first >= self._y.shape[1]
        self.failures = {NO_HISTORY: int(unseen.sum())} if unseen.any() else {}
        return np.where(unseen[:, None], np.nan, out)

    def predict(self, h: int) -> np.ndarray:
        y, n = self._y, self._y.shape[1]
        week = y[:, n - 7 :] if n >= 7 else np.zeros((y.shape[0], 7))
        out = np.tile(np.nan_to_num(week), int(np.ceil(h / 7)))[:, :h]
        if self.yearly:
            # day n + k (k = 0..h-1) a year back is n + k - 364; repeat the last year for k >= 364
            idx = n - 364 + (np.arange(h) % 364)
            ok = (idx >= 0) & (idx < n)
            has_year = self._first <= n - 364
            year = np.where(ok[None, :], y[:, np.clip(idx, 0, n - 1)], np.nan)
            use = has_year[:, None] & ~np.isnan(year)
            out = np.where(use, year, out)
        return self._unseen(np.maximum(out, 0.0))

    def params(self) -> dict:
        return {"yearly": self.yearly}


class WeekdayMean(Forecaster):
    """The mean of the last ``weeks`` same weekdays: a steady, low-variance fallback.

    Robust for intermittent and short series, where one noisy week makes the seasonal naive wild.
    """

    name = "weekday_mean"

    def __init__(self, weeks: int = 8) -> None:
        self.weeks = weeks

    def fit(self, panel: Panel) -> WeekdayMean:
        y = panel.y
        n = y.shape[1]
        self._unseen = panel.first_observed() >= n
        span = min(n, 7 * self.weeks)
        recent = y[:, n - span :]
        # the column of recent that falls on each of the next 7 days' weekdays
        profile = np.full((y.shape[0], 7), np.nan)
        for k in range(7):
            cols = np.arange(span - 7 + k, -1, -7)[::-1] if span >= 7 else np.array([], int)
            cols = cols[cols >= 0]
            if cols.size:
                profile[:, k] = nanmean(recent[:, cols], axis=1)
        overall = nanmean(recent, axis=1) if span else np.zeros(y.shape[0])
        # nothing in the window (a long closure): the mean of the last days it was open
        older = np.isnan(overall) & ~self._unseen
        for i in np.flatnonzero(older):
            seen = y[i][~np.isnan(y[i])]
            overall[i] = seen[-span:].mean()
        profile = np.where(np.isnan(profile), overall[:, None], profile)
        self._profile = np.where(self._unseen[:, None], np.nan, profile)
        return self

    def predict(self, h: int) -> np.ndarray:
        # a series with no observed day at all is a counted failure (NaN), not 0 units
        self.failures = {NO_HISTORY: int(self._unseen.sum())} if self._unseen.any() else {}
        return np.maximum(np.tile(self._profile, int(np.ceil(h / 7)))[:, :h], 0.0)

    def params(self) -> dict:
        return {"weeks": self.weeks}
