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
    earlier_load,
    earliest_plausible_day,
    lock_loads,
    open_batch,
    record_failed_batch,
    replace_batch,
)
from ingest.calendar import ensure_region_calendars, set_region_place
from ingest.csvfile import (
    MONEY_LIMITS,
    CsvFile,
    InputFileError,
    Rejection,
    RowChecker,
    flag_quantity,
    parse_number,
    read_csv,
)
from ingest.dates import DAYFIRST, MONTHFIRST, day_order, parse_dates
from ingest.ids import merges, stable_ids
from ingest.report import ImportReport, finish_batch
from warehouse.copy import copy_frames

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
    # where its region is (the `holidays` package's codes): chooses the region's holidays
    country: str | None = None
    subdivision: str | None = None


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
        if dayfirst is None and not date_format:
            dates = (
                (frame[columns.date].str.strip(), frame["_line"])
                for frame in csv.chunks(record=False)
            )
            dayfirst = day_order(path, columns.date, dates)
    except InputFileError as exc:
        record_failed_batch(url, SOURCE, str(path), str(exc))
        raise
    line_count = columns.line_count if columns.line_count in csv.header else None
    params = {
        "restaurant": restaurant.name,
        "dayfirst": dayfirst,
        "date_format": date_format,
        "encoding": encoding,
        "columns": [columns.order, columns.date, columns.item, columns.quantity, columns.price],
        "line_count": line_count,
        "drop_exact_duplicates": drop_exact_duplicates,
        "prices": _sha(prices),
        "product_groups": _sha(product_groups),
        "item_ids": _sha(item_ids),
    }
    if restaurant.country:
        params["place"] = [restaurant.country, restaurant.subdivision]
    formats = [date_format] if date_format else (MONTHFIRST if dayfirst is False else DAYFIRST)
    expected = date_format or ("month-first" if dayfirst is False else "day-first")

    with psycopg.connect(url) as conn:
        lock_loads(conn)
        if (prior := already_loaded(conn, SOURCE, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        earlier = earlier_load(conn, SOURCE, csv.sha256)
        batch = open_batch(
            conn, SOURCE, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        floor = earliest_plausible_day(conn)
        # good lines land in a temporary table a chunk at a time (memory stays flat); what needs
        # the whole file (an order's repeats, each line's place in its order) is then one query
        conn.execute(
            """create temp table _lines (line_no bigint, order_number text, sku_name text,
                   sale_date date, units integer, unit_price numeric, line_count integer,
                   raw_hash bigint, sku_id text) on commit drop"""
        )
        for f in csv.chunks():
            check = RowChecker(f)
            order = f[columns.order].str.strip()
            check.flag(order == "", columns.order, "missing order number")
            item = f[columns.item].str.strip()
            check.flag(item == "", columns.item, "missing item name")
            raw_date = f[columns.date].str.strip()
            stamp = parse_dates(raw_date, formats)
            check.flag(
                stamp.isna(),
                columns.date,
                "unparseable date "
                + raw_date.map(repr)
                + f" (expected {expected}, e.g. 03/08/2019 20:25)",
            )
            check.flag(
                stamp.dt.normalize() > pd.Timestamp(date.today()),
                columns.date,
                "date in the future: " + raw_date,
            )
            check.flag(
                stamp < pd.Timestamp(floor),
                columns.date,
                f"implausible date (before {floor}): " + raw_date,
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
            said = (
                pd.to_numeric(f[line_count].str.strip(), errors="coerce")
                if line_count
                else pd.Series(np.nan, index=f.index)
            )
            csv.rejected.add(check.rejections())
            ok = ~check.bad
            lines = pd.DataFrame(
                {
                    "line_no": f["_line"][ok],
                    "order_number": order[ok],
                    "sku_name": item[ok],
                    "sale_date": stamp[ok].dt.date,
                    "units": qty[ok].astype("int64"),
                    "unit_price": price[ok].round(2),
                    "line_count": said[ok].where(said[ok].abs() < 2**31).astype("Int64"),
                    "raw_hash": pd.util.hash_pandas_object(f["_raw"][ok], index=False).astype(
                        "int64"
                    ),
                }
            )
            copy_frames(conn, "pg_temp._lines", list(lines.columns), [lines])
        _drop_contradicted_repeats(conn, csv, columns, drop_exact_duplicates)

        known = dict(conn.execute("select name, sku_id from raw.skus").fetchall())
        names = [r[0] for r in conn.execute("select distinct sku_name from _lines")]
        ids = stable_ids(names, known, prefix="item", asked=asked)
        conn.execute("create temp table _ids (sku_name text, sku_id text) on commit drop")
        copy_frames(
            conn,
            "pg_temp._ids",
            ["sku_name", "sku_id"],
            [pd.DataFrame(ids.items(), columns=["sku_name", "sku_id"])],
        )
        conn.execute(
            "update _lines l set sku_id = i.sku_id from _ids i where i.sku_name = l.sku_name"
        )
        rid = _register(conn, restaurant, list_prices, groups, batch, earlier and earlier[0])
        if restaurant.country:
            regions = [
                r
                for (r,) in conn.execute(
                    "select region from raw.restaurants where restaurant_id = %s", (rid,)
                )
            ]
            set_region_place(conn, regions, restaurant.country, restaurant.subdivision, batch)
        span = conn.execute("select min(sale_date), max(sale_date) from _lines").fetchone()
        if span[0] is not None:
            ensure_region_calendars(conn, span[0].year, span[1].year)
        # the k-th line of an item in an order: its identity across overlapping exports
        loaded = conn.execute(
            """insert into raw.order_lines
                   (restaurant_id, sale_date, order_number, sku_id, occurrence, units, unit_price,
                    line_no, batch_id)
               select %s, sale_date, order_number, sku_id,
                      row_number() over (partition by sale_date, order_number, sku_id
                                         order by line_no),
                      units, unit_price, line_no, %s
                 from _lines order by line_no""",
            (rid, batch),
        ).rowcount
        days, unpriced = conn.execute(
            "select count(distinct sale_date), count(*) filter (where unit_price is null)"
            " from _lines"
        ).fetchone()
        notes = [f"{loaded} order lines on {days} days"]
        if earlier is not None:
            notes.append(replace_batch(conn, earlier[0], batch, earlier[1], params))
        notes.append(_restated(conn, batch))
        if unpriced:
            notes.append(
                f"{unpriced} lines had no usable price (net sales left empty on their days)"
            )
        for id_, merged in merges(ids).items():
            notes.append(f"merged as {item_ids} asks: {', '.join(map(repr, merged))} -> {id_}")
        return finish_batch(conn, batch, csv, loaded, notes)


def _drop_contradicted_repeats(
    conn: psycopg.Connection, csv: CsvFile, columns: OrderColumns, drop_all: bool
) -> None:
    """Remove the exact repeats of a line that the export contradicts (see the module doc): with
    ``drop_all`` every repeat; otherwise, in an order with more lines than its own line count,
    its latest repeats, as many as it has lines too many. Each is kept as a rejection."""
    repeats = conn.execute(
        """with numbered as (
               select line_no, order_number, line_count,
                      count(*) over (partition by order_number) as n_lines,
                      min(line_no) over (partition by order_number, raw_hash) as first_line
                 from _lines),
           repeats as (
               select *, row_number() over (partition by order_number order by line_no desc)
                         as from_end
                 from numbered where line_no <> first_line)
           delete from _lines l using repeats r
            where l.line_no = r.line_no
              and (%(all)s or r.from_end <= r.n_lines - r.line_count)
        returning r.line_no, r.first_line, r.order_number, r.n_lines, r.line_count""",
        {"all": drop_all},
    ).fetchall()
    repeats.sort()
    text = csv.lines_at({r[0] for r in repeats[: csv.rejected.cap]})
    csv.rejected.add(
        Rejection(
            line,
            None,
            f"exact repeat of line {first} (--drop-exact-duplicates)"
            if drop_all
            else f"repeat of line {first}: order {order} has {n} lines but its "
            f"{columns.line_count} says {said}",
            text.get(line, ""),
        )
        for line, first, order, n, said in repeats
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
    """A small two-column mapping file (prices, groups, ids); any bad line fails the import."""
    csv = read_csv(path, [key, value], "utf-8")
    frame = pd.concat(list(csv.chunks()), ignore_index=True)
    if csv.rejected.kept:
        r = csv.rejected.kept[0]
        raise InputFileError(path, r.line_no, None, r.reason)
    keys = frame[key].str.strip()
    if value == "Product Price":
        vals = parse_number(frame[value])
        if vals.isna().any():
            line = int(frame.loc[vals.isna(), "_line"].iloc[0])
            raise InputFileError(path, line, value, "non-numeric price")
        return dict(zip(keys, vals, strict=True))
    return dict(zip(keys, frame[value].str.strip(), strict=True))


def _register(
    conn: psycopg.Connection,
    restaurant: Restaurant,
    list_prices: dict,
    groups: dict,
    batch: int,
    replaced: int | None,
) -> str:
    """Register the restaurant and the menu items of ``_lines``, or update what this import says
    about them (region, city, format, product groups, list prices, first days). Returns the
    restaurant's id. Rows registered by the batch being replaced take this import's first days."""
    known = dict(conn.execute("select name, restaurant_id from raw.restaurants").fetchall())
    rid = stable_ids([restaurant.name], known, prefix="restaurant")[restaurant.name]
    first_day = conn.execute("select min(sale_date) from _lines").fetchone()[0]
    if first_day is None:
        return rid
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
    names = pd.Series([r[0] for r in conn.execute("select sku_name from _ids")], dtype=object)
    attrs = pd.DataFrame(
        {
            "sku_name": names,
            "product_group": names.map(groups),
            "given_price": names.map(list_prices).astype(float),
        }
    )
    conn.execute(
        "create temp table _attrs (sku_name text, product_group text, given_price numeric)"
        " on commit drop"
    )
    copy_frames(conn, "pg_temp._attrs", list(attrs.columns), [attrs])
    conn.execute(
        """create temp table _skus on commit drop as
           select l.sku_id, min(l.sku_name) as name, min(a.product_group) as product_group,
                  min(a.given_price) as given_price,
                  round(sum(l.units * l.unit_price)
                        / nullif(sum(l.units) filter (where l.unit_price is not null), 0), 2)
                      as seen_price,
                  min(l.sale_date) as launched_on
             from _lines l join _attrs a using (sku_name)
            group by l.sku_id"""
    )
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
