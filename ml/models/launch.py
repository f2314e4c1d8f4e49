"""Cold start: a young item's forecast from what the chain already knows, not from its few days.

An item on sale for under ``young_days`` days at the origin has a handful of noisy observations;
their 8-week weekday mean (the fallback's) is a mean of almost nothing. The launch curve model
forecasts it as

    level × weekday shape of its restaurant × launch curve of its product group (age ahead / now)

- **level**: its own mean (divided by the weekday shape, so two Saturdays do not look like
  growth) shrunk towards a peer level, ``prior_days`` days' worth: the item's share of its
  restaurant's sales where it is established (median over those restaurants) times this
  restaurant's recent daily total. On a chain whose demand is restaurant size × item popularity,
  that share is what a new restaurant or a new listing will sell.
- **weekday shape**: the restaurant's established items' last 8 weeks by weekday (the chain's
  where the restaurant itself is new).
- **launch curve**: for each product group, units by week since launch over the items launched
  inside the history, each divided by its first two weeks (ratio of sums); flat (1) where fewer
  than ``min_launches`` launches show that week, and held beyond the last week seen.

Established series (older than ``young_days``) get the 8-week weekday mean, so the model can
serve any series; the engine gives it the series that have no backtest actuals
(``EngineConfig.new_series_model``). Only days up to the origin are read.
"""

from __future__ import annotations

import numpy as np

from ml.models.base import Forecaster
from ml.models.naive import WeekdayMean
from ml.panel import Panel, nanmean


class LaunchCurve(Forecaster):
    name = "launch_curve"
    is_global = True  # peers and launch curves come from the other series

    def __init__(
        self,
        young_days: int = 56,
        prior_days: float = 14.0,
        min_launches: int = 5,
        max_weeks: int = 52,
    ) -> None:
        self.young_days, self.prior_days = young_days, prior_days
        self.min_launches, self.max_weeks = min_launches, max_weeks

    def fit(self, panel: Panel) -> LaunchCurve:
        y = panel.y
        n_s, n = y.shape
        self._base = WeekdayMean().fit(panel)
        first = panel.first_observed()
        self._age = n - first  # the first forecast day's age in days (launch day: age 0)
        self._young = (self._age < self.young_days) & (first < n)
        self._dow0 = int(panel.dates[-1].dayofweek) if n else 0
        self._level = np.full(n_s, np.nan)
        self._shape = np.ones((n_s, 7))
        self._curve = np.ones((n_s, self.max_weeks + 1))
        if not self._young.any() or n < 7:
            return self
        dow = np.asarray(panel.dates.dayofweek)
        recent = slice(max(0, n - 56), n)
        established = ~self._young & (first < n)
        restaurants = _codes(panel, "restaurant_id")
        skus = _codes(panel, "sku_id")
        groups = _codes(panel, "product_group")

        # peers need to know which series are the same item elsewhere (not so an aggregate's)
        has_peers = all(
            c in panel.series and panel.series[c].notna().all() for c in ("restaurant_id", "sku_id")
        )
        shape = self._weekday_shape(
            y[:, recent], dow[recent], restaurants, established, np.unique(restaurants[self._young])
        )
        self._shape = shape
        # the restaurant's mean daily total over its last 28 reported days, all its items
        window = slice(max(0, n - 28), n)
        totals = _sum_by(np.nan_to_num(y[:, window]), restaurants)  # (restaurant, day)
        reported = _sum_by((~np.isnan(y[:, window])).astype(float), restaurants) > 0
        total_r = np.divide(
            totals.sum(axis=1),
            reported.sum(axis=1),
            out=np.zeros(len(totals)),
            where=reported.any(1),
        )
        # the item's share where it is established: its 28-day mean over its restaurant's total
        item_mean = nanmean(y[:, window], axis=1)
        share = np.divide(
            item_mean,
            total_r[restaurants],
            out=np.full(n_s, np.nan),
            where=total_r[restaurants] > 0,
        )
        share = np.where(established, share, np.nan)
        peer_share = np.full(skus.max() + 1, np.nan)
        for s in np.unique(skus[established]):
            vals = share[(skus == s) & np.isfinite(share)]
            if vals.size:
                peer_share[s] = np.median(vals)
        curves = self._launch_curves(y, first, groups)
        for i in np.flatnonzero(self._young):
            seen = ~np.isnan(y[i])
            own = y[i, seen] / shape[i, dow[seen]]
            k = own.size
            peer = peer_share[skus[i]] * total_r[restaurants[i]] if has_peers else np.nan
            curve = curves[groups[i]]
            # the level the observed days stand for: their mean age on the launch curve
            weeks_seen = np.minimum((np.flatnonzero(seen) - first[i]) // 7, self.max_weeks)
            own_level = own.mean() / max(curve[weeks_seen].mean(), 1e-6) if k else np.nan
            if np.isfinite(peer) and k:
                level = (k * own_level + self.prior_days * peer) / (k + self.prior_days)
            elif np.isfinite(peer):
                level = peer
            else:
                level = own_level
            self._level[i] = level
            self._curve[i] = curve
        return self

    def _weekday_shape(self, recent, dow, restaurants, established, wanted) -> np.ndarray:
        """(series, weekday) multiplier, mean 1: the restaurant's established items' weekly
        pattern, else the chain's."""

        def shape_of(rows) -> np.ndarray | None:
            block = recent[rows]
            by_day = np.array([np.nansum(block[:, dow == d]) for d in range(7)])
            days = np.array([(dow == d).sum() for d in range(7)])
            mean = np.divide(by_day, days, out=np.zeros(7), where=days > 0)
            if (mean <= 0).any():
                return None
            return mean / mean.mean()

        chain = shape_of(established)
        chain = np.ones(7) if chain is None else chain
        out = np.tile(chain, (len(restaurants), 1))
        for r in wanted:
            rows = (restaurants == r) & established
            own = shape_of(rows) if rows.any() else None
            if own is not None:
                out[restaurants == r] = own
        return out

    def _launch_curves(self, y, first, groups) -> np.ndarray:
        """(group, week since launch) ratio to the first two weeks, over launches in the history."""
        n = y.shape[1]
        w = self.max_weeks + 1
        curves = np.ones((groups.max() + 1, w))
        launched = (first > 0) & (n - first >= 14)
        for g in np.unique(groups):
            rows = np.flatnonzero(launched & (groups == g))
            if rows.size < self.min_launches:
                continue
            num, cnt = np.zeros(w), np.zeros(w)
            start = np.zeros(w)
            for i in rows:
                life = y[i, first[i] :]
                weeks = min(w, life.size // 7)
                weekly = nanmean(life[: weeks * 7].reshape(weeks, 7), axis=1)
                base = np.nanmean(life[:14])
                if not np.isfinite(base) or base <= 0:
                    continue
                ok = np.isfinite(weekly)
                num[:weeks][ok] += weekly[ok]
                start[:weeks][ok] += base
                cnt[:weeks][ok] += 1
            enough = cnt >= self.min_launches
            curve = np.divide(num, start, out=np.ones(w), where=enough & (start > 0))
            # beyond the last well-supported week: hold it
            if enough.any():
                last = np.flatnonzero(enough)[-1]
                curve[last + 1 :] = curve[last]
            curves[g] = np.clip(curve, 0.25, 4.0)
        return curves

    def predict(self, h: int) -> np.ndarray:
        out = self._base.predict(h)
        self.failures = dict(self._base.failures)
        young = np.flatnonzero(self._young & np.isfinite(self._level))
        if young.size:
            days = np.arange(h)
            dow = (self._dow0 + 1 + days) % 7
            for i in young:
                age_weeks = np.minimum((self._age[i] + days) // 7, self.max_weeks)
                out[i] = self._level[i] * self._shape[i, dow] * self._curve[i, age_weeks]
        return np.maximum(out, 0.0)

    def params(self) -> dict:
        return {
            "young_days": self.young_days,
            "prior_days": self.prior_days,
            "min_launches": self.min_launches,
        }


def _codes(panel: Panel, column: str) -> np.ndarray:
    """Integer codes of a series attribute (all 0 where the panel has no such column, as an
    aggregate level's panel)."""
    if column not in panel.series:
        return np.zeros(panel.n_series, dtype=int)
    return np.unique(panel.series[column].astype(str).to_numpy(), return_inverse=True)[1]


def _sum_by(a: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.zeros((codes.max() + 1, a.shape[1]))
    np.add.at(out, codes, a)
    return out
