"""Import a point-of-sale order-line export: one row per line, kept with its identity.

The defaults fit the common export layout ``OrderNumber, OrderDate, ItemName, Quantity,
ProductPrice[, TotalProducts]`` (the London takeaway data); every column name can be mapped with
an option. Lines land in raw.order_lines with their identity (restaurant, day, order, k-th line
of the item in the order), so overlapping exports add up in staging without counting a line twice.

A repeated line is a sale (an export with one line per unit sold repeats them). Only repeats the
export itself contradicts are dropped: an order with more lines than its own line count column
says, or every exact repeat when ``drop_exact_duplicates`` is asked for. Each dropped line is kept
in raw.rejected_rows with its reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from ingest.batches import (
    already_loaded,
    close_batch,
    earlier_load,
    earliest_plausible_day,
    lock_loads,
    open_batch,
    record_failed_batch,
    replace_batch,
)
from ingest.calendar import ensure_region_calendars
from ingest.copy import copy_frames
from ingest.csvfile import (
    MONEY_LIMITS,
    InputFileError,
    RowChecker,
    flag_quantity,
    parse_number,
    read_csv,
)
from ingest.dates import DAYFIRST, MONTHFIRST, day_order, parse_dates
from ingest.ids import merges, stable_ids
from ingest.report import ImportReport, write_rejections

SOURCE = "orders_csv"
LINE_COLUMNS = [
    "restaurant_id",
    "sale_date",
    "order_number",
    "sku_id",
    "occurrence",
    "units",
    "unit_price",
    "line_no",
    "batch_id",
]


@dataclass(frozen=True)
class OrderColumns:
    order: str = "OrderNumber"
    date: str = "OrderDate"
    item: str = "ItemName"
    quantity: str = "Quantity"
    price: str | None = "ProductPrice"
    line_count: str | None = "TotalProducts"  # the order's own count of lines, used when present


@dataclass(frozen=True)
class Restaurant:
    """The restaurant an export belongs to; attributes left None keep what is registered."""

    name: str
    region: str | None = None
    city: str | None = None
    format: str | None = None


def import_orders(
    url: str,
    path: Path | str,
    restaurant: Restaurant,
    *,
    columns: OrderColumns = OrderColumns(),
    dayfirst: bool | None = None,
    date_format: str | None = None,
    prices: Path | str | None = None,
    product_groups: Path | str | None = None,
    item_ids: Path | str | None = None,
    drop_exact_duplicates: bool = False,
    encoding: str = "utf-8",
) -> ImportReport:
    """Load the order lines of one restaurant; register the restaurant and its menu items.

    Args:
        dayfirst: how slashed dates read; None detects it from the data (an error when every
            date is ambiguous).
        prices: optional CSV of ``Item Name, Product Price`` giving each item's list price.
        product_groups: optional CSV of ``item, product_group``; applied to items already
            registered too. Unmapped new items go to 'Unassigned'.
        item_ids: optional CSV of ``item, sku_id``: names to give a chosen id (several names to
            one id merge them; the batch message reports it).
    """
    required = [columns.order, columns.date, columns.item, columns.quantity]
    if columns.price:
        required.append(columns.price)
    try:
        csv = read_csv(path, required, encoding)
        list_prices = _read_mapping(prices, "Item Name", "Product Price") if prices else {}
        groups = _read_mapping(product_groups, "item", "product_group") if product_groups else {}
        asked = _read_mapping(item_ids, "item", "sku_id") if item_ids else {}
        raw_date = csv.frame[columns.date].str.strip()
        if dayfirst is None and not date_format:
            dayfirst = day_order(path, columns.date, raw_date, csv.frame["_line"])
    except InputFileError as exc:
        record_failed_batch(url, SOURCE, str(path), str(exc))
        raise

    f = csv.frame
    check = RowChecker(f)
    order = f[columns.order].str.strip()
    check.flag(order == "", columns.order, "missing order number")
    item = f[columns.item].str.strip()
    check.flag(item == "", columns.item, "missing item name")
    stamp = parse_dates(
        raw_date, [date_format] if date_format else (MONTHFIRST if dayfirst is False else DAYFIRST)
    )
    expected = date_format or ("month-first" if dayfirst is False else "day-first")
    check.flag(
        stamp.isna(),
        columns.date,
        "unparseable date " + raw_date.map(repr) + f" (expected {expected}, e.g. 03/08/2019 20:25)",
    )
    check.flag(
        stamp.dt.normalize() > pd.Timestamp(date.today()),
        columns.date,
        "date in the future: " + raw_date,
    )
    with psycopg.connect(url) as conn:
        floor = earliest_plausible_day(conn)
    check.flag(
        stamp < pd.Timestamp(floor), columns.date, f"implausible date (before {floor}): " + raw_date
    )
    qty = flag_quantity(check, columns.quantity)
    if columns.price:
        # a bad or blank price leaves the price unknown; the units still count
        price = parse_number(f[columns.price])
        price = price.where(
            np.isfinite(price) & (price >= 0) & (price < MONEY_LIMITS["unit_price"])
        )
    else:
        price = item.map(list_prices).astype(float)
    _flag_contradicted_repeats(check, order, columns, drop_exact_duplicates)

    ok = ~check.bad
    lines = pd.DataFrame(
        {
            "sku_name": item[ok],
            "sale_date": stamp[ok].dt.date,
            "order_number": order[ok],
            "units": qty[ok].astype("int64"),
            "unit_price": price[ok].round(2),
            "line_no": f["_line"][ok],
        }
    )
    unpriced = int(lines["unit_price"].isna().sum())
    params = {
        "restaurant": restaurant.name,
        "dayfirst": dayfirst,
        "date_format": date_format,
        "encoding": encoding,
        "columns": [columns.order, columns.date, columns.item, columns.quantity, columns.price],
        "line_count": columns.line_count if columns.line_count in csv.header else None,
        "drop_exact_duplicates": drop_exact_duplicates,
        "prices": _sha(prices),
        "product_groups": _sha(product_groups),
        "item_ids": _sha(item_ids),
    }

    with psycopg.connect(url) as conn:
        lock_loads(conn)
        if (prior := already_loaded(conn, SOURCE, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        earlier = earlier_load(conn, SOURCE, csv.sha256)
        batch = open_batch(
            conn, SOURCE, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        known = dict(conn.execute("select name, sku_id from raw.skus").fetchall())
        ids = stable_ids(lines["sku_name"], known, prefix="item", asked=asked)
        lines["sku_id"] = lines["sku_name"].map(ids)
        # the k-th line of an item in an order: its identity across overlapping exports
        lines["occurrence"] = lines.groupby(["sale_date", "order_number", "sku_id"]).cumcount() + 1
        rid = _register(conn, restaurant, lines, list_prices, groups, batch, earlier and earlier[0])
        lines["restaurant_id"] = rid
        if not lines.empty:
            ensure_region_calendars(
                conn, lines["sale_date"].min().year, lines["sale_date"].max().year
            )
        loaded = copy_frames(conn, "raw.order_lines", LINE_COLUMNS, [lines.assign(batch_id=batch)])
        notes = [f"{loaded} order lines on {lines['sale_date'].nunique()} days"]
        if earlier is not None:
            notes.append(replace_batch(conn, earlier[0], batch, earlier[1], params))
        notes.append(_restated(conn, batch))
        if unpriced:
            notes.append(
                f"{unpriced} lines had no usable price (net sales left empty on their days)"
            )
        for id_, names in merges(ids).items():
            notes.append(f"merged as {item_ids} asks: {', '.join(map(repr, names))} -> {id_}")
        rejected = [*csv.rejected, *check.rejections()]
        write_rejections(conn, batch, rejected)
        close_batch(
            conn,
            batch,
            rows_read=csv.lines_read,
            rows_loaded=loaded,
            rows_rejected=len(rejected),
            message="; ".join(n for n in notes if n),
        )
    return ImportReport(csv.path, batch, csv.lines_read, loaded, rejected, notes=notes)


def _flag_contradicted_repeats(
    check: RowChecker, order: pd.Series, columns: OrderColumns, drop_all: bool
) -> None:
    """Reject the exact repeats of a line that the export contradicts (see the module doc)."""
    f = check.frame
    good = ~check.bad
    same = f["_raw"].where(good)
    first = f.groupby(same)["_line"].transform("min")
    repeat = good & (f["_line"] != first)
    if drop_all:
        check.flag(
            repeat,
            None,
            "exact repeat of line "
            + first.astype("Int64").astype(str)
            + " (--drop-exact-duplicates)",
        )
        return
    if not columns.line_count or columns.line_count not in f:
        return
    said = pd.to_numeric(f[columns.line_count].str.strip(), errors="coerce")
    key = order.where(good)
    n_lines = key.map(key.value_counts())
    excess = (n_lines - said.groupby(key).transform("first")).fillna(0)
    # the latest repeats of an over-long order go, as many as it has lines too many
    rank = repeat[::-1].astype(int).groupby(key[::-1]).cumsum()[::-1]
    drop = repeat & (excess > 0) & (rank <= excess)
    check.flag(
        drop,
        None,
        "repeat of line "
        + first.astype("Int64").astype(str)
        + ": order "
        + order
        + " has "
        + n_lines.astype("Int64").astype(str)
        + f" lines but its {columns.line_count} says "
        + said.astype("Int64").astype(str),
    )


def _restated(conn: psycopg.Connection, batch: int) -> str:
    """Say how many of the batch's lines an earlier loaded batch already holds (counted once)."""
    n, days, first, last = conn.execute(
        """select count(*), count(distinct n.sale_date), min(n.sale_date), max(n.sale_date)
             from raw.order_lines n
            where n.batch_id = %(b)s
              and exists (
                  select 1 from raw.order_lines o
                  join raw.load_batches lb on lb.batch_id = o.batch_id and lb.status = 'loaded'
                  where o.batch_id <> %(b)s and o.restaurant_id = n.restaurant_id
                    and o.sale_date = n.sale_date and o.order_number = n.order_number
                    and o.sku_id = n.sku_id and o.occurrence = n.occurrence)""",
        {"b": batch},
    ).fetchone()
    if not n:
        return ""
    span = str(first) if first == last else f"{first} … {last}"
    return f"restates {n} order lines already loaded on {days} days ({span}): each counts once"


def _sha(path: Path | str | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _read_mapping(path: Path | str, key: str, value: str) -> dict[str, object]:
    csv = read_csv(path, [key, value], "utf-8")
    if csv.rejected:
        r = csv.rejected[0]
        raise InputFileError(path, r.line_no, None, r.reason)
    keys = csv.frame[key].str.strip()
    if value == "Product Price":
        vals = parse_number(csv.frame[value])
        if vals.isna().any():
            line = int(csv.frame.loc[vals.isna(), "_line"].iloc[0])
            raise InputFileError(path, line, value, "non-numeric price")
        return dict(zip(keys, vals, strict=True))
    return dict(zip(keys, csv.frame[value].str.strip(), strict=True))


def _register(
    conn: psycopg.Connection,
    restaurant: Restaurant,
    lines: pd.DataFrame,
    list_prices: dict,
    groups: dict,
    batch: int,
    replaced: int | None,
) -> str:
    """Register the restaurant and its menu items, or update what this import says about them
    (region, city, format, product groups, list prices, first days). Returns the restaurant's id.
    Rows registered by the batch being replaced take this import's first days."""
    known = dict(conn.execute("select name, restaurant_id from raw.restaurants").fetchall())
    rid = stable_ids([restaurant.name], known, prefix="restaurant")[restaurant.name]
    if lines.empty:
        return rid
    first_day = lines["sale_date"].min()
    conn.execute(
        """insert into raw.restaurants
               (restaurant_id, name, region, city, format, opened_on, batch_id)
           values (%(id)s, %(name)s, coalesce(%(region)s, 'Unassigned'), %(city)s,
                   coalesce(%(format)s, 'takeaway'), %(day)s, %(batch)s)
           on conflict (restaurant_id) do update
              set region = coalesce(%(region)s, restaurants.region),
                  city = coalesce(%(city)s, restaurants.city),
                  format = coalesce(%(format)s, restaurants.format),
                  opened_on = case when restaurants.batch_id = %(replaced)s then excluded.opened_on
                                   else least(restaurants.opened_on, excluded.opened_on) end,
                  batch_id = excluded.batch_id
            where (restaurants.region, restaurants.city, restaurants.format, restaurants.opened_on)
                  is distinct from
                  (coalesce(%(region)s, restaurants.region), coalesce(%(city)s, restaurants.city),
                   coalesce(%(format)s, restaurants.format),
                   case when restaurants.batch_id = %(replaced)s then excluded.opened_on
                        else least(restaurants.opened_on, excluded.opened_on) end)""",
        {
            "id": rid,
            "name": restaurant.name,
            "region": restaurant.region,
            "city": restaurant.city,
            "format": restaurant.format,
            "day": first_day,
            "batch": batch,
            "replaced": replaced,
        },
    )
    items = (
        lines.assign(revenue=lines["units"] * lines["unit_price"])
        .groupby("sku_id")
        .agg(
            name=("sku_name", "first"),
            launched_on=("sale_date", "min"),
            revenue=("revenue", "sum"),
            units=("units", "sum"),
        )
    )
    skus = pd.DataFrame(
        {
            "sku_id": items.index,
            "name": items["name"].to_numpy(),
            "product_group": items["name"].map(groups).to_numpy(),
            "given_price": items["name"].map(list_prices).to_numpy(),
            "seen_price": (items["revenue"] / items["units"].where(items["units"] > 0))
            .round(2)
            .to_numpy(),
            "launched_on": items["launched_on"].to_numpy(),
        }
    )
    conn.execute(
        """create temp table _skus (sku_id text, name text, product_group text,
               given_price numeric, seen_price numeric, launched_on date) on commit drop"""
    )
    copy_frames(conn, "pg_temp._skus", list(skus.columns), [skus])
    conn.execute(
        """insert into raw.skus (sku_id, name, product_group, list_price, launched_on, batch_id)
           select sku_id, name, coalesce(product_group, 'Unassigned'),
                  coalesce(given_price, seen_price), launched_on, %s
             from _skus
           on conflict (sku_id) do nothing""",
        (batch,),
    )
    # items registered before: what this import says (groups, list prices, an earlier first day)
    conn.execute(
        """with new as (
               select s.sku_id,
                      coalesce(t.product_group, s.product_group) as product_group,
                      coalesce(t.given_price, s.list_price) as list_price,
                      case when s.batch_id = %(replaced)s then t.launched_on
                           else least(s.launched_on, t.launched_on) end as launched_on
                 from raw.skus s join _skus t using (sku_id)
                where s.batch_id is distinct from %(batch)s)
           update raw.skus s
              set product_group = new.product_group, list_price = new.list_price,
                  launched_on = new.launched_on, batch_id = %(batch)s
             from new
            where s.sku_id = new.sku_id
              and (s.product_group, s.list_price, s.launched_on)
                  is distinct from (new.product_group, new.list_price, new.launched_on)""",
        {"batch": batch, "replaced": replaced},
    )
    return rid
