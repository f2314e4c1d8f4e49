"""Bridging a stale restaurant's missing days, so it can be forecast from the common origin.

A restaurant whose data stopped weeks before the others' (a broken till export, a late file) is
either left out of the run or, with ``FRYCAST_STALE_RESTAURANTS=forecast``, forecast with the
rest from the common origin. For that its series need days up to that origin: each missing day
is bridged with the series' own weekday mean over its last 8 reported weeks (what the fallback
model would have forecast from its last day), on the weekdays the restaurant opened then; the
weekdays it kept closed stay closed. Bridged days are marked ``Panel.imputed``: the models read
them as history, backtests never score them, and the run records each such restaurant's last
real day (``marts.fct_forecast.data_ends_on``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from ml.models.naive import WeekdayMean
from ml.panel import Panel

MAX_BRIDGED_DAYS = 365  # a longer silence is not bridged: more invented days than a forecast


def bridge_gaps(panel: Panel, last_days: dict[str, date]) -> Panel:
    """``panel`` with each listed restaurant's days after its last reported day bridged."""
    n = len(panel.dates)
    y = panel.y.copy()
    imputed = np.zeros(y.shape, dtype=bool) if panel.imputed is None else panel.imputed.copy()
    open_ = None if panel.open is None else panel.open.copy()
    restaurant = panel.series["restaurant_id"].to_numpy()
    dow = np.asarray(panel.dates.dayofweek)
    for rid, last in last_days.items():
        rows = np.flatnonzero(restaurant == rid)
        stop = int(panel.dates.searchsorted(pd.Timestamp(last), side="right"))  # first gap day
        gap = n - stop
        if not rows.size or gap <= 0 or gap > MAX_BRIDGED_DAYS or stop == 0:
            continue
        fill = WeekdayMean().fit(panel.select(rows).truncate(stop - 1)).predict(gap)
        closed = np.zeros(gap, dtype=bool)
        if open_ is not None:
            window = slice(max(0, stop - 56), stop)
            flags = open_[rows[0], window]
            for d in range(7):
                known = flags[(dow[window] == d) & (flags >= 0)]
                if known.size and (known == 0).mean() > 0.5:
                    closed |= dow[stop:] == d
            open_[rows, stop:n] = np.where(closed, 0, 1).astype(np.int8)
        fill[:, closed] = np.nan
        hole = np.isnan(y[rows, stop:])
        y[rows, stop:] = np.where(hole, fill, y[rows, stop:])
        imputed[rows, stop:] |= hole & ~np.isnan(fill)
    return replace(panel, y=y, imputed=imputed, open=open_)


def bridgeable(stale: dict[str, date], end: date) -> tuple[dict[str, date], dict[str, date]]:
    """The stale restaurants split into those whose gap to ``end`` can be bridged and the rest."""
    ok = {r: d for r, d in stale.items() if (end - d).days <= MAX_BRIDGED_DAYS}
    return ok, {r: d for r, d in stale.items() if r not in ok}
