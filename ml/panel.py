"""The panel every model sees: many daily series on one calendar, plus what is known in advance.

Series sit in rows of a wide array (series × day). NaN in ``y`` means no actual: the item was not
yet on sale, or the restaurant was closed. ``known`` holds features that exist ahead of time
(calendar, holidays, planned promotions and prices) for the history *and* the forecast days;
nothing in it may be derived from sales.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import sparse

# Known-in-advance features per day: calendar of the series' region, its planned promotions and its
# SKU's list price (planned changes included). The global models read the price as ratios
# (ml.gbm_features.price_features), never as the raw level.
CALENDAR_COLUMNS = (  # per region and day, from features.feat_calendar
    "day_of_week",
    "day_of_year",
    "month_of_year",
    "is_weekend",
    "is_holiday",
    "days_to_next_holiday",
    "days_since_last_holiday",
    "doy_sin",
    "doy_cos",
    "holiday_days_back",  # read as "the same day around this holiday last year", not as is
)
# Per series and day, from features.feat_restaurant_events: a planner's event that day, and the
# days to the next and since the last one (capped, like the holidays').
EVENT_COLUMNS = ("is_event", "days_to_next_event", "days_since_last_event")
EVENT_PROXIMITY_CAP = 30
KNOWN_COLUMNS = (*CALENDAR_COLUMNS, *EVENT_COLUMNS, "discount_pct", "list_price")


@dataclass(frozen=True)
class Panel:
    """History ``y`` (n_series × n_days) on ``dates``, and ``known`` features over ``all_dates``.

    ``series`` has one row per series (restaurant_id, sku_id, region, product_group, ...);
    ``known`` maps a feature name to an (n_series × len(all_dates)) array; ``all_dates`` starts
    with ``dates`` and runs on past the last day of history. ``open`` (optional, int8, the same
    shape) says whether the series' restaurant was open: 1 open, 0 closed, -1 unknown (before its
    data, or ahead, except closures scheduled in advance, which are 0); ``ml.openness`` forecasts
    it. ``open_ahead`` is False on a truncated panel: its days after the origin are not known.
    """

    series: pd.DataFrame
    dates: pd.DatetimeIndex
    y: np.ndarray
    all_dates: pd.DatetimeIndex
    known: dict[str, np.ndarray] = field(default_factory=dict)
    open: np.ndarray | None = None
    open_ahead: bool = True
    # (series × history day) True where y was bridged, not observed (ml.gaps): models read it,
    # backtests never score it
    imputed: np.ndarray | None = None
    # events entered with a ``known_since`` date: (k, m) is the part of known["is_event"] known
    # only from day index k of all_dates on; a fold whose origin is before k must not see it
    event_layers: tuple[tuple[int, sparse.csr_matrix], ...] = ()

    def __post_init__(self) -> None:
        if self.y.shape != (len(self.series), len(self.dates)):
            raise ValueError(
                f"y has shape {self.y.shape}, expected {(len(self.series), len(self.dates))}"
            )
        if len(self.dates) and not self.all_dates[: len(self.dates)].equals(self.dates):
            raise ValueError("all_dates must start with the history dates")
        for name, arr in self.known.items():
            if arr.shape != (len(self.series), len(self.all_dates)):
                raise ValueError(f"known[{name!r}] has shape {arr.shape}")
        if self.open is not None and self.open.shape != (len(self.series), len(self.all_dates)):
            raise ValueError(f"open has shape {self.open.shape}")
        if self.imputed is not None and self.imputed.shape != self.y.shape:
            raise ValueError(f"imputed has shape {self.imputed.shape}")

    @property
    def n_series(self) -> int:
        return len(self.series)

    @property
    def end(self) -> pd.Timestamp:
        """The last day of history (the forecast origin)."""
        return self.dates[-1]

    @property
    def keys(self) -> list[str]:
        """Node keys: ``restaurant_id/sku_id``, or the ``node_key`` column of an aggregate panel."""
        if "node_key" in self.series:
            return self.series["node_key"].astype(str).tolist()
        return (self.series["restaurant_id"] + "/" + self.series["sku_id"]).tolist()

    def truncate(self, origin: int) -> Panel:
        """The panel as it was known at day index ``origin`` (inclusive): nothing after it (not
        even closures: which of them were scheduled in advance is not recorded), and no event
        that was entered after it."""
        known, layers = self.known, self.event_layers
        later = [m for k, m in layers if k > origin]
        if later:
            is_event = known["is_event"] - sum(later[1:], later[0]).toarray().astype(np.float32)
            known = {**known, "is_event": is_event, **event_proximity(is_event)}
            layers = tuple((k, m) for k, m in layers if k <= origin)
        return replace(
            self,
            dates=self.dates[: origin + 1],
            y=self.y[:, : origin + 1],
            known=known,
            event_layers=layers,
            open_ahead=False,
            imputed=None if self.imputed is None else self.imputed[:, : origin + 1],
        )

    def future_dates(self, h: int) -> pd.DatetimeIndex:
        return pd.date_range(self.end + pd.Timedelta(days=1), periods=h, freq="D")

    def known_at(self, name: str, start: int, stop: int) -> np.ndarray:
        """Known feature ``name`` for day indices [start, stop) of ``all_dates``."""
        if stop > len(self.all_dates):
            raise ValueError(
                f"known features end on {self.all_dates[-1].date()}; forecast needs "
                f"{stop - len(self.all_dates)} more days"
            )
        return self.known[name][:, start:stop]

    def first_observed(self) -> np.ndarray:
        """Index of each series' first non-NaN day (len(dates) when it has none)."""
        observed = ~np.isnan(self.y)
        has = observed.any(axis=1)
        return np.where(has, observed.argmax(axis=1), self.y.shape[1])

    def select(self, rows: np.ndarray) -> Panel:
        """A panel of some series only."""
        return replace(
            self,
            series=self.series.iloc[rows].reset_index(drop=True),
            y=self.y[rows],
            known={k: v[rows] for k, v in self.known.items()},
            open=None if self.open is None else self.open[rows],
            imputed=None if self.imputed is None else self.imputed[rows],
            event_layers=tuple((k, m[rows]) for k, m in self.event_layers),
        )


def event_proximity(is_event: np.ndarray) -> dict[str, np.ndarray]:
    """Days to the next and since the last event day (is_event > 0) of each row, capped."""
    idx = np.arange(is_event.shape[1], dtype=np.float32)
    on = is_event > 1e-6  # an aggregate's share of members with an event, less float noise
    last = np.maximum.accumulate(np.where(on, idx, -np.inf), axis=1)
    following = np.minimum.accumulate(np.where(on, idx, np.inf)[:, ::-1], axis=1)[:, ::-1]
    cap = np.float32(EVENT_PROXIMITY_CAP)
    return {
        "days_to_next_event": np.minimum(following - idx, cap).astype(np.float32),
        "days_since_last_event": np.minimum(idx - last, cap).astype(np.float32),
    }


def fill_closed_days(y: np.ndarray, max_weeks: int = 8) -> np.ndarray:
    """Replace NaN inside each series by the last value seen on the same weekday (else 0).

    For models that need an unbroken series (ETS, ARIMA, Theta, Prophet). Leading NaN (before the
    item was on sale) stay NaN for the caller to trim.
    """
    out = y.copy()
    n = out.shape[1]
    observed = ~np.isnan(y)
    first = np.where(observed.any(axis=1), observed.argmax(axis=1), n)
    inside = np.arange(n)[None, :] >= first[:, None]
    for weeks in range(1, max_weeks + 1):
        lag = 7 * weeks
        if lag >= n:
            break
        holes = np.isnan(out[:, lag:]) & inside[:, lag:]
        if not holes.any():
            break
        out[:, lag:] = np.where(holes, y[:, :-lag], out[:, lag:])
    return np.where(np.isnan(out) & inside, 0.0, out)


def nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring NaN; NaN where a slice has no values (without numpy's warning)."""
    mask = ~np.isnan(a)
    count = mask.sum(axis=axis)
    total = np.where(mask, a, 0.0).sum(axis=axis)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
