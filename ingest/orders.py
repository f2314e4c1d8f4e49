"""Import a point-of-sale order-line export and aggregate it to restaurant × SKU × day.

The defaults fit the common export layout ``OrderNumber, OrderDate, ItemName, Quantity,
ProductPrice`` (the London takeaway data); every column name can be mapped with an option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from ingest.batches import (
    already_loaded,
    close_batch,
    earliest_plausible_day,
    lock_loads,
    open_batch,
    record_failed_batch,
)
from ingest.calendar import ensure_region_calendars
from ingest.copy import SALES_COLUMNS, copy_frames
from ingest.csvfile import (
    MONEY_LIMITS,
    InputFileError,
    RowChecker,
    flag_quantity,
    parse_number,
    read_csv,
)
from ingest.report import ImportReport, write_rejections

SOURCE = "orders_csv"
_DAYFIRST = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
_MONTHFIRST = ["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


@dataclass(frozen=True)
class OrderColumns:
    order: str = "OrderNumber"
    date: str = "OrderDate"
    item: str = "ItemName"
    quantity: str = "Quantity"
    price: str | None = "ProductPrice"


@dataclass(frozen=True)
class Restaurant:
    name: str
    region: str = "Unassigned"
    city: str | None = None
    format: str = "takeaway"

    @property
    def restaurant_id(self) -> str:
        return slugify(self.name)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def import_orders(
    url: str,
    path: Path | str,
    restaurant: Restaurant,
    *,
    columns: OrderColumns = OrderColumns(),
    dayfirst: bool = True,
    date_format: str | None = None,
    prices: Path | str | None = None,
    product_groups: Path | str | None = None,
    encoding: str = "utf-8",
) -> ImportReport:
    """Load order lines for one restaurant; register the restaurant and its menu items if new.

    Args:
        prices: optional CSV of ``Item Name, Product Price`` giving each item's list price.
        product_groups: optional CSV of ``item, product_group``; unmapped items go to 'Unassigned'.
    """
    required = [columns.order, columns.date, columns.item, columns.quantity]
    if columns.price:
        required.append(columns.price)
    try:
        csv = read_csv(path, required, encoding)
        list_prices = _read_mapping(prices, "Item Name", "Product Price") if prices else {}
        groups = _read_mapping(product_groups, "item", "product_group") if product_groups else {}
    except InputFileError as exc:
        record_failed_batch(url, SOURCE, str(path), str(exc))
        raise

    f = csv.frame
    check = RowChecker(f)
    item = f[columns.item].str.strip()
    check.flag(item == "", columns.item, "missing item name")
    stamp = _parse_dates(
        f[columns.date].str.strip(),
        [date_format] if date_format else (_DAYFIRST if dayfirst else _MONTHFIRST),
    )
    check.flag(
        stamp.isna(),
        columns.date,
        "unparseable date "
        + f[columns.date].map(repr)
        + (
            " (expected day-first, e.g. 03/08/2019 20:25)"
            if dayfirst and not date_format
            else f" (expected {date_format or 'month-first'})"
        ),
    )
    check.flag(stamp.dt.date > date.today(), columns.date, "date in the future: " + f[columns.date])
    with psycopg.connect(url) as conn:
        floor = earliest_plausible_day(conn)
    check.flag(
        stamp.dt.date < floor,
        columns.date,
        f"implausible date (before {floor}): " + f[columns.date],
    )
    qty = flag_quantity(check, columns.quantity)
    if columns.price:
        # a bad or blank price leaves the price unknown; the units still count
        raw_price = f[columns.price].str.strip()
        price = parse_number(raw_price)
        price = price.where(
            np.isfinite(price) & (price >= 0) & (price < MONEY_LIMITS["unit_price"])
        )
    else:
        price = item.map(list_prices).astype(float)

    # Export duplicates: the very same line twice (same order, item, time, quantity, price).
    same = f["_raw"].where(~check.bad)
    first = f.groupby(same)["_line"].transform("min")
    check.flag(
        same.notna() & (f["_line"] != first),
        None,
        "duplicate of line " + first.astype("Int64").astype(str),
    )

    ok = ~check.bad
    lines = pd.DataFrame(
        {
            "sku_name": item[ok],
            "sale_date": stamp[ok].dt.date,
            "units": qty[ok],
            "revenue": (qty * price)[ok],
        }
    )
    lines["sku_id"] = lines["sku_name"].map(slugify)
    daily = (
        lines.assign(unpriced=lines["revenue"].isna())
        .groupby(["sku_id", "sale_date"], as_index=False)
        .agg(units=("units", "sum"), net_sales=("revenue", "sum"), unpriced=("unpriced", "any"))
    )
    # a day with any unpriced line has unknown net sales: empty, never 0.00 or a partial sum
    daily.loc[daily["unpriced"], "net_sales"] = np.nan
    unpriced_lines = int(lines["revenue"].isna().sum())
    daily["units"] = daily["units"].astype("int64")
    daily["net_sales"] = daily["net_sales"].round(2)
    daily["unit_price"] = (daily["net_sales"] / daily["units"].where(daily["units"] > 0)).round(2)
    daily["on_promo"] = False
    daily["restaurant_id"] = restaurant.restaurant_id

    with psycopg.connect(url) as conn:
        lock_loads(conn)
        params = {
            "restaurant": restaurant.name,
            "dayfirst": dayfirst,
            "date_format": date_format,
            "encoding": encoding,
        }
        if (prior := already_loaded(conn, SOURCE, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        batch = open_batch(
            conn, SOURCE, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        _register(conn, restaurant, lines, list_prices, groups, batch)
        if not daily.empty:
            ensure_region_calendars(
                conn, daily["sale_date"].min().year, daily["sale_date"].max().year
            )
        loaded = copy_frames(
            conn,
            "raw.daily_sales",
            SALES_COLUMNS,
            [daily.assign(batch_id=batch)],
        )
        rejected = [*csv.rejected, *check.rejections()]
        write_rejections(conn, batch, rejected)
        close_batch(
            conn,
            batch,
            rows_read=csv.lines_read,
            rows_loaded=loaded,
            rows_rejected=len(rejected),
            message=f"{int(ok.sum())} order lines aggregated to {loaded} daily rows"
            + (
                f"; {unpriced_lines} lines had no usable price (net sales left empty on their days)"
                if unpriced_lines
                else ""
            ),
        )
    return ImportReport(csv.path, batch, csv.lines_read, loaded, rejected)


def _parse_dates(raw: pd.Series, formats: list[str]) -> pd.Series:
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(raw[todo], format=fmt, errors="coerce")
    return out


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
    conn, restaurant: Restaurant, lines: pd.DataFrame, list_prices: dict, groups: dict, batch: int
) -> None:
    """Add the restaurant and its menu items to raw.restaurants / raw.skus unless already there."""
    if lines.empty:
        return
    conn.execute(
        """insert into raw.restaurants
               (restaurant_id, name, region, city, format, opened_on, batch_id)
           values (%s, %s, %s, %s, %s, %s, %s) on conflict (restaurant_id) do nothing""",
        (
            restaurant.restaurant_id,
            restaurant.name,
            restaurant.region,
            restaurant.city,
            restaurant.format,
            lines["sale_date"].min(),
            batch,
        ),
    )
    items = lines.groupby("sku_id").agg(
        name=("sku_name", "first"),
        launched_on=("sale_date", "min"),
        revenue=("revenue", "sum"),
        units=("units", "sum"),
    )
    skus = pd.DataFrame(
        {
            "sku_id": items.index,
            "name": items["name"].to_numpy(),
            "product_group": items["name"].map(groups).fillna("Unassigned").to_numpy(),
            "list_price": items["name"]
            .map(list_prices)
            .fillna((items["revenue"] / items["units"]).round(2))
            .to_numpy(),
            "launched_on": items["launched_on"].to_numpy(),
            "batch_id": batch,
        }
    )
    conn.execute("create temp table _skus (like raw.skus) on commit drop")
    copy_frames(conn, "pg_temp._skus", list(skus.columns), [skus])
    conn.execute("insert into raw.skus select * from _skus on conflict (sku_id) do nothing")
