"""Read the forecasting panel from the dbt feature tables (the only SQL the engine needs)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg
from scipy import sparse

from ml.panel import CALENDAR_COLUMNS, Panel, event_proximity
from warehouse.copy import copy_int4_arrays, copy_query_frame

STALE_AFTER_DAYS = 28  # a restaurant silent for longer is not forecast from the common origin


def load_panel(
    url: str,
    *,
    horizon: int = 365,
    restaurants: list[str] | None = None,
    active_only: bool = True,
    stale_after_days: int | None = STALE_AFTER_DAYS,
) -> Panel:
    """Every restaurant × SKU series of ``features.feat_daily_sales`` on one calendar.

    ``active_only`` keeps the series still on sale on their restaurant's last reported day (the
    ones that need a forecast). A forecast has one origin, the last day of history, so restaurants
    that stopped reporting more than ``stale_after_days`` before it are left out (see
    :func:`stale_restaurants`; forecast them on their own with ``restaurants=[...]``). Known
    features (``features.feat_calendar``, ``features.feat_planned_promotions``,
    ``features.feat_sku_prices``) run ``horizon`` days past the last day of history.
    """
    if stale_after_days is not None:
        last_days = restaurant_last_days(url, restaurants)
        if stale := stale_among(last_days, stale_after_days):
            restaurants = [r for r in last_days if r not in stale]
    # the restaurants asked for, as SQL (COPY takes no parameters); the series and their
    # history are selected by the same filter
    in_restaurants = (
        f"({_text_array_literal(restaurants)} is null"
        f" or restaurant_id = any({_text_array_literal(restaurants)}))"
    )
    series_filter = in_restaurants + (" and is_active" if active_only else "")
    with psycopg.connect(url) as conn:
        s = copy_query_frame(
            conn,
            "select restaurant_id, sku_id, region, product_group, restaurant_format, first_day,"
            f" last_day from features.feat_series where {series_filter}"
            " order by restaurant_id, sku_id",
        )
        if s.empty:
            raise ValueError(
                "no series to forecast: is features.feat_series built (frycast build)?"
            )
        s["first_day"] = pd.to_datetime(s["first_day"]).dt.date
        s["last_day"] = pd.to_datetime(s["last_day"]).dt.date
        first, last = s["first_day"].min(), s["last_day"].max()
        # History as (series number, day number, units): the series are numbered in the order
        # above, so the panel needs no key lookup. Each series comes as one row of two arrays
        # (its days, its units) in binary: 28 M values reach numpy with no per-row Python.
        keys, day_nos, units = copy_int4_arrays(
            conn,
            "with numbered as ("
            " select restaurant_id, sku_id,"
            " (row_number() over (order by restaurant_id, sku_id) - 1)::int as series_no"
            f" from features.feat_series where {series_filter}"
            # grouped in the join's order (restaurant, SKU), so no sort; both arrays are filled
            # by one aggregate pass, so they line up
            + ") select min(numbered.series_no),"
            " array_agg((sales.sale_date - date '" + str(first) + "')::int),"
            " array_agg(sales.units::int)"
            " from features.feat_daily_sales as sales"
            " inner join numbered using (restaurant_id, sku_id)"
            " where sales.units is not null"
            " group by sales.restaurant_id, sales.sku_id",
        )
        lengths = [len(d) for d in day_nos]
        history = pd.DataFrame(
            {
                "series_no": np.repeat(keys, lengths),
                "day_no": np.concatenate(day_nos) if day_nos else np.empty(0, np.int32),
                "units": np.concatenate(units) if units else np.empty(0, np.int32),
            }
        )
        calendar = copy_query_frame(
            conn,
            f"select region, date_day, {', '.join(CALENDAR_COLUMNS)} from features.feat_calendar "
            f"where date_day between '{first}' and '{last + timedelta(days=horizon)}'",
        )
        promos = copy_query_frame(
            conn,
            "select restaurant_id, sku_id, promo_date, discount_pct "
            f"from features.feat_planned_promotions where promo_date >= '{first}'",
        )
        prices = copy_query_frame(
            conn,
            "select sku_id, price_date, list_price from features.feat_sku_prices"
            f" where price_date between '{first}' and '{last + timedelta(days=horizon)}'",
        )
        days = copy_query_frame(
            conn,
            "select restaurant_id, calendar_day, is_open from features.feat_restaurant_days"
            f" where calendar_day between '{first}' and '{last + timedelta(days=horizon)}'"
            f" and {in_restaurants}",
        )
        events = copy_query_frame(
            conn,
            "select restaurant_id, event_date, known_since from features.feat_restaurant_events"
            f" where event_date between '{first}' and '{last + timedelta(days=horizon)}'",
        )
    return build_panel(s, history, calendar, promos, horizon, days, prices, events)


def restaurant_last_days(url: str, restaurants: list[str] | None = None) -> dict[str, date]:
    """Each restaurant's last reported day (the end of its series in ``features.feat_series``)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select restaurant_id, max(last_day) from features.feat_series"
            " where %(r)s::text[] is null or restaurant_id = any(%(r)s::text[])"
            " group by restaurant_id order by restaurant_id",
            {"r": restaurants},
        ).fetchall()
    return dict(rows)


def stale_restaurants(
    url: str, restaurants: list[str] | None = None, stale_after_days: int = STALE_AFTER_DAYS
) -> dict[str, date]:
    """Restaurants whose data ends more than ``stale_after_days`` before the latest restaurant's:
    a forecast from the common origin would start after years without data for them."""
    return stale_among(restaurant_last_days(url, restaurants), stale_after_days)


def stale_among(last_days: dict[str, date], stale_after_days: int | None) -> dict[str, date]:
    """The restaurants of ``last_days`` whose data ends more than ``stale_after_days`` before the
    latest one's (none when ``stale_after_days`` is None)."""
    if not last_days or stale_after_days is None:
        return {}
    end = max(last_days.values())
    return {r: d for r, d in last_days.items() if (end - d).days > stale_after_days}


def build_panel(
    series: pd.DataFrame,
    history: pd.DataFrame,
    calendar: pd.DataFrame,
    promos: pd.DataFrame,
    horizon: int,
    restaurant_days: pd.DataFrame | None = None,
    prices: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> Panel:
    """Pivot long frames into a :class:`Panel` (series in the order of ``series``; ``history``
    has each row's series number in that order and its day number from the first day;
    ``restaurant_days`` says which days each restaurant was open, and which closures are
    scheduled ahead; ``prices`` has each SKU's list price per day, planned days included;
    ``events`` each restaurant's event days and since when each was known)."""
    series = series.reset_index(drop=True).copy()
    first, last = pd.Timestamp(series["first_day"].min()), pd.Timestamp(series["last_day"].max())
    dates = pd.date_range(first, last, freq="D")
    all_dates = pd.date_range(first, last + pd.Timedelta(days=horizon), freq="D")
    index = pd.MultiIndex.from_frame(series[["restaurant_id", "sku_id"]])
    y = np.full((len(series), len(dates)), np.nan)
    if not history.empty:
        rows = history["series_no"].to_numpy()
        cols = history["day_no"].to_numpy()
        keep = (rows >= 0) & (cols >= 0) & (cols < len(dates))
        y[rows[keep], cols[keep]] = history["units"].to_numpy(dtype=float)[keep]

    known: dict[str, np.ndarray] = {}
    regions = pd.Index(sorted(series["region"].unique()))
    cal = calendar.assign(date_day=pd.to_datetime(calendar["date_day"]))
    cal = cal[cal["region"].isin(regions)]
    r_idx = regions.get_indexer(cal["region"])
    d_idx = (cal["date_day"] - first).dt.days.to_numpy()
    ok = (d_idx >= 0) & (d_idx < len(all_dates))
    series_region = regions.get_indexer(series["region"])
    # float32: small integers and sin/cos of the day of year, held per series (a region's value
    # repeated for each of its series): 1.35 GB less at the chain tier than float64
    for col in CALENDAR_COLUMNS:
        grid = np.full((len(regions), len(all_dates)), np.nan, dtype=np.float32)
        grid[r_idx[ok], d_idx[ok]] = _numeric(cal[col])[ok]
        known[col] = grid[series_region]
    discount = np.zeros((len(series), len(all_dates)))
    if not promos.empty:
        rows = index.get_indexer(pd.MultiIndex.from_frame(promos[["restaurant_id", "sku_id"]]))
        cols = (pd.to_datetime(promos["promo_date"]) - first).dt.days.to_numpy()
        keep = (rows >= 0) & (cols >= 0) & (cols < len(all_dates))
        discount[rows[keep], cols[keep]] = promos["discount_pct"].to_numpy(dtype=float)[keep]
    known["discount_pct"] = discount
    if prices is not None and not prices.empty:
        known["list_price"] = _sku_prices(series, prices, first, len(all_dates))

    is_event, layers = _event_days(series, events, first, len(all_dates))
    known["is_event"] = is_event
    known.update(event_proximity(is_event))

    series["product_group_code"] = pd.factorize(series["product_group"], sort=True)[0]
    series["region_code"] = series_region
    open_ = None
    if restaurant_days is not None:
        open_ = _open_flags(series, restaurant_days, first, len(all_dates))
    return Panel(
        series=series,
        dates=dates,
        y=y,
        all_dates=all_dates,
        known=known,
        open=open_,
        event_layers=layers,
    )


def _event_days(series: pd.DataFrame, events: pd.DataFrame | None, first, n_days: int):
    """(series × day) 1.0 on the series' restaurant's event days, and the events known only
    from some day on as (day index, sparse part) layers (see ``Panel.event_layers``)."""
    is_event = np.zeros((len(series), n_days), dtype=np.float32)
    if events is None or events.empty:
        return is_event, ()
    restaurants = pd.Index(sorted(series["restaurant_id"].unique()))
    rows_of = restaurants.get_indexer(series["restaurant_id"])
    r = restaurants.get_indexer(events["restaurant_id"])
    d = (pd.to_datetime(events["event_date"]) - first).dt.days.to_numpy()
    since = pd.to_datetime(events["known_since"])
    k = np.where(since.isna(), 0, (since - first).dt.days.fillna(0)).astype(int)
    ok = (r >= 0) & (d >= 0) & (d < n_days)
    grid = np.zeros((len(restaurants), n_days), dtype=np.float32)
    grid[r[ok], d[ok]] = 1.0
    is_event = grid[rows_of]
    layers = []
    for day in sorted(set(k[ok & (k > 0)])):
        part = ok & (k == day)
        layer = sparse.csr_matrix(
            (np.ones(part.sum(), dtype=np.float32), (r[part], d[part])),
            shape=(len(restaurants), n_days),
        )
        layers.append((int(day), layer[rows_of]))
    return is_event, tuple(layers)


def _open_flags(series: pd.DataFrame, days: pd.DataFrame, first, n_days: int) -> np.ndarray:
    """(series × day) int8: 1 where the series' restaurant was open, 0 closed, -1 unknown."""
    restaurants = pd.Index(sorted(series["restaurant_id"].unique()))
    grid = np.full((len(restaurants), n_days), -1, dtype=np.int8)
    if not days.empty:
        r = restaurants.get_indexer(days["restaurant_id"])
        d = (pd.to_datetime(days["calendar_day"]) - first).dt.days.to_numpy()
        ok = (r >= 0) & (d >= 0) & (d < n_days)
        grid[r[ok], d[ok]] = _numeric(days["is_open"])[ok].astype(np.int8)
    return grid[restaurants.get_indexer(series["restaurant_id"])]


def _sku_prices(series: pd.DataFrame, prices: pd.DataFrame, first, n_days: int) -> np.ndarray:
    """(series × day) list price of each series' SKU; a day without a price row takes the
    nearest one before it (else after it), so the array has no holes."""
    skus = pd.Index(sorted(series["sku_id"].unique()))
    grid = np.full((len(skus), n_days), np.nan)
    s = skus.get_indexer(prices["sku_id"])
    d = (pd.to_datetime(prices["price_date"]) - first).dt.days.to_numpy()
    ok = (s >= 0) & (d >= 0) & (d < n_days)
    grid[s[ok], d[ok]] = prices["list_price"].to_numpy(dtype=float)[ok]
    grid = pd.DataFrame(grid).ffill(axis=1).bfill(axis=1).to_numpy()
    return grid[skus.get_indexer(series["sku_id"])]


def _numeric(col: pd.Series) -> np.ndarray:
    """Floats from a CSV column; Postgres writes booleans as t / f."""
    if col.dtype == object:
        col = col.map({"t": 1.0, "f": 0.0, True: 1.0, False: 0.0})
    return col.to_numpy(dtype=float)


def _text_array_literal(values: list[str] | None) -> str:
    if values is None:
        return "null::text[]"
    quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"array[{quoted}]::text[]"


def history_end(url: str) -> date:
    with psycopg.connect(url) as conn:
        return conn.execute("select max(sale_date) from marts.fct_daily_sales").fetchone()[0]
