"""Import daily sales files with the contract's columns (restaurant × SKU × day).

Other shapes of export are brought to that contract by options: a wide file (one column per
item), one line per unit sold, another delimiter, non-items to leave out, and event columns
beside the sales (they land in raw.calendar_events for the line's restaurant and day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path

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
    CsvFile,
    InputFileError,
    Rejection,
    RowChecker,
    delimiter_char,
    flag_money,
    flag_quantity,
    read_csv,
    text_column,
)
from ingest.report import ImportReport, finish_batch
from warehouse.copy import copy_frames

SOURCE = "daily_csv"
REQUIRED = ["restaurant_id", "sku_id", "sale_date", "units"]
OPTIONAL = ["net_sales", "unit_price", "on_promo"]
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n", ""}


def import_daily(
    url: str,
    path: Path | str,
    *,
    register_new: bool = False,
    complete: bool = False,
    encoding: str = "utf-8",
    columns: dict[str, str] | None = None,
    place: tuple[str, str | None] | None = None,
    delimiter: str = ",",
    wide: bool = False,
    units_per_line: bool = False,
    exclude: Iterable[str] = (),
    event_cols: Iterable[str] = (),
) -> ImportReport:
    """Load a daily sales CSV into raw.daily_sales as one batch.

    Unknown restaurant or SKU ids are rejected unless ``register_new``, which adds them to
    raw.restaurants / raw.skus with placeholder attributes (region and group 'Unassigned').
    ``complete`` declares that the file holds every item each restaurant sold on its days (an
    item it leaves out sold none); otherwise a day carrying few of the restaurant's usual items
    is taken as partial: the items it leaves out are unknown that day, not zero.
    ``columns`` maps a contract column to the file's header for it (``{"units": "Qty"}``);
    ``place`` (country, subdivision) puts the regions of the file's restaurants there (their
    holiday calendars follow).

    The file's shape: ``delimiter`` (one character, or ``tab``); ``wide``: one column per item
    (its header is the SKU id) beside the restaurant and date, a blank cell no row; or
    ``units_per_line``: no quantity column, each line is one unit sold. ``exclude``: SKU values
    that are not items (NONE, Adjustment, Gift voucher; trimmed, any case): their lines (a wide
    file's columns) are left out and counted in the batch message, not rejected. ``event_cols``:
    columns whose non-blank value names an event of the line's restaurant and day.

    A re-import of the same file with other options replaces the earlier batch (its events too).
    """
    if wide and units_per_line:
        raise ValueError("a wide file has a quantity in each cell: it cannot be one line per unit")
    skip = {"sku_id", "units", *OPTIONAL} if wide else {"units"} if units_per_line else set()
    names = {c: (columns or {}).get(c, c) for c in COLUMNS if c not in skip}
    renames = {file_col: c for c, file_col in names.items() if file_col != c}
    event_cols = list(dict.fromkeys(event_cols))
    excluded = sorted({v.strip().casefold() for v in exclude} - {""})
    delimiter = delimiter_char(delimiter)
    required = [names[c] for c in REQUIRED if c in names] + event_cols
    try:
        csv = read_csv(path, required, encoding, delimiter)
        items = _item_columns(csv, {*names.values(), *names, *event_cols}) if wide else []
    except InputFileError as exc:
        record_failed_batch(url, SOURCE, str(path), str(exc))
        raise
    with psycopg.connect(url) as conn:
        lock_loads(conn)
        params = {"register_new": register_new, "encoding": encoding, "complete": complete}
        if renames:
            params["columns"] = dict(sorted(renames.items()))
        if place:
            params["place"] = list(place)
        # the shape options, recorded only when given (earlier batches keep matching)
        shape = {
            "delimiter": delimiter if delimiter != "," else None,
            "wide": wide,
            "units_per_line": units_per_line,
            "exclude": excluded,
            "event_cols": event_cols,
        }
        params.update({k: v for k, v in shape.items() if v})
        if (prior := already_loaded(conn, SOURCE, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        earlier = earlier_load(conn, SOURCE, csv.sha256)
        batch = open_batch(
            conn, SOURCE, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        known = None if register_new else _known_ids(conn)
        floor = earliest_plausible_day(conn)
        # the file's good lines land in a temporary table chunk by chunk (memory stays flat);
        # a key the file gives twice is then found in one pass: the first line wins
        conn.execute(
            """create temp table _daily (line_no bigint, restaurant_id text, sku_id text,
                    sale_date date, units integer, net_sales numeric, unit_price numeric,
                    on_promo boolean) on commit drop;
               create temp table _events (restaurant_id text, event_date date, name text)
                    on commit drop"""
        )
        left_out = Counter()
        for frame in csv.chunks():
            if renames:  # the file's names -> the contract's (a contract name it also has yields)
                frame = frame.drop(columns=[c for c in renames.values() if c in frame])
                frame = frame.rename(columns=renames)
            if event_cols:
                events = _events(frame, event_cols, floor)
                copy_frames(conn, "pg_temp._events", EVENT_COLUMNS, [events])
            if wide:
                frame = _melt(frame, items)
            elif units_per_line:
                frame = frame.assign(units="1")
            frame, dropped = _exclude(frame, excluded)
            left_out.update(dropped)
            good, check = _validate(frame, known, floor)
            if wide:  # a cell's problem names its column: the item's header
                check.column = check.column.mask(
                    check.column.isin(["sku_id", "units"]), frame["sku_id"]
                )
            csv.rejected.add(check.rejections())
            copy_frames(conn, "pg_temp._daily", ["line_no", *COLUMNS], [good])
        if units_per_line:
            _count_units(conn)
        else:
            _reject_repeated_keys(conn, csv)
        if register_new:
            _register(conn, batch)
        if place:
            regions = [
                r
                for (r,) in conn.execute(
                    "select distinct region from raw.restaurants"
                    " where restaurant_id in (select restaurant_id from _daily)"
                )
            ]
            set_region_place(conn, regions, *place, batch)
        span = conn.execute("select min(sale_date), max(sale_date) from _daily").fetchone()
        if span[0] is not None:
            ensure_region_calendars(conn, span[0].year, span[1].year)
        loaded = conn.execute(
            f"""insert into raw.daily_sales ({", ".join(COLUMNS)}, batch_id)
                select {", ".join(COLUMNS)}, %s from _daily order by line_no""",
            (batch,),
        ).rowcount
        notes = [_excluded_note(left_out, "cells" if wide else "lines")]
        if event_cols:
            notes.append(_write_events(conn, batch, earlier and earlier[0], event_cols))
        if earlier:
            notes.append(replace_batch(conn, earlier[0], batch, earlier[1], params))
        return finish_batch(conn, batch, csv, loaded, notes)


COLUMNS = [*REQUIRED, *OPTIONAL]
EVENT_COLUMNS = ["restaurant_id", "event_date", "name"]


def _item_columns(csv: CsvFile, not_items: set[str]) -> list[str]:
    """A wide file's item columns: every column but the restaurant, the date and the events."""
    items = [h for h in csv.header if h not in not_items]
    if not items:
        raise InputFileError(csv.path, 1, None, "a wide file needs one column per item; none found")
    return items


def _melt(f: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    """A wide chunk as the contract's long rows: one per non-blank item cell, in line order."""
    long = f.melt(
        id_vars=["restaurant_id", "sale_date", "_line", "_raw"],
        value_vars=items,
        var_name="sku_id",
        value_name="units",
    )
    long = long[long["units"].str.strip() != ""]
    return long.sort_values("_line", kind="stable").reset_index(drop=True)


def _exclude(f: pd.DataFrame, excluded: list[str]) -> tuple[pd.DataFrame, Counter]:
    """Drop the rows whose SKU is on the exclusion list; count them by the value the file gives."""
    if not excluded:
        return f, Counter()
    sku = f["sku_id"].str.strip()
    out = sku.str.casefold().isin(excluded)
    return f[~out].copy(), Counter(sku[out])


def _excluded_note(left_out: Counter, unit: str) -> str:
    if not left_out:
        return ""
    kinds = ", ".join(f"{v} {n:,}" for v, n in left_out.most_common())
    return f"{left_out.total():,} {unit} excluded as not items ({kinds})"


def _events(f: pd.DataFrame, cols: list[str], floor: date) -> pd.DataFrame:
    """The events a chunk names: a non-blank event cell on a line whose restaurant and day pass
    the sales' checks (its sales may still be rejected: those checks report the line)."""
    check = RowChecker(f)
    rid, day = _check_day(check, f, floor)
    frames = [
        pd.DataFrame({"restaurant_id": rid, "event_date": day.dt.date, "name": text_column(f, c)})
        for c in cols
    ]
    events = pd.concat([e[~check.bad] for e in frames])
    return events[events["name"].notna()]


def _write_events(conn: psycopg.Connection, batch: int, earlier: int | None, cols: list[str]):
    """The file's events into raw.calendar_events for its restaurants, once each. An event
    another import already holds is left as it is, unless the batch this one replaces wrote it:
    then this batch takes it over (replace_batch deletes the rest of that batch's)."""
    n = conn.execute(
        """insert into raw.calendar_events (event_date, name, restaurant_id, batch_id)
           select distinct e.event_date, e.name, e.restaurant_id, %(batch)s
             from _events e join raw.restaurants r using (restaurant_id)
           on conflict (event_date, name, coalesce(region, ''), coalesce(restaurant_id, ''))
           do update set batch_id = excluded.batch_id
                   where calendar_events.batch_id = %(earlier)s""",
        {"batch": batch, "earlier": earlier},
    ).rowcount
    return f"{n:,} events from {', '.join(cols)} in raw.calendar_events"


def _known_ids(conn: psycopg.Connection) -> tuple[set[str], set[str]]:
    return (
        {r[0] for r in conn.execute("select restaurant_id from raw.restaurants")},
        {r[0] for r in conn.execute("select sku_id from raw.skus")},
    )


def _reject_repeated_keys(conn: psycopg.Connection, csv: CsvFile) -> None:
    """A restaurant, SKU and day the file gives twice: later lines are rejected (and removed)."""
    repeats = conn.execute(
        """delete from _daily d
            using (select line_no, min(line_no) over (
                              partition by restaurant_id, sku_id, sale_date) as first_line
                     from _daily) k
            where d.line_no = k.line_no and k.line_no <> k.first_line
        returning d.line_no, k.first_line"""
    ).fetchall()
    repeats.sort()
    text = csv.lines_at({line for line, _ in repeats[: csv.rejected.cap]})
    csv.rejected.add(
        Rejection(line, None, f"duplicate of line {first}", text.get(line, ""))
        for line, first in repeats
    )


def _count_units(conn: psycopg.Connection) -> None:
    """One line per unit sold: a restaurant, SKU and day's lines become one row (at its first
    line) with their count; net sales are their sum when every line gives them."""
    conn.execute(
        """with lines as (delete from _daily returning *)
           insert into _daily
           select min(line_no), restaurant_id, sku_id, sale_date, count(*),
                  case when count(net_sales) = count(*) then sum(net_sales) end,
                  avg(unit_price), bool_or(on_promo)
             from lines group by restaurant_id, sku_id, sale_date"""
    )


def _check_day(check: RowChecker, f: pd.DataFrame, floor: date) -> tuple[pd.Series, pd.Series]:
    """A chunk's restaurant ids (stripped) and days (timestamps), problems flagged."""
    rid = f["restaurant_id"].str.strip()
    check.flag(rid == "", "restaurant_id", "missing restaurant_id")
    raw_date = f["sale_date"].str.strip()
    sale_date = pd.to_datetime(raw_date, format="%Y-%m-%d", errors="coerce")
    check.flag(
        sale_date.isna(),
        "sale_date",
        "unparseable date " + raw_date.map(repr) + " (expected YYYY-MM-DD)",
    )
    check.flag(
        sale_date.dt.normalize() > pd.Timestamp(date.today()),
        "sale_date",
        "date in the future: " + raw_date,
    )
    check.flag(
        sale_date < pd.Timestamp(floor),
        "sale_date",
        f"implausible date (before {floor}): " + raw_date,
    )
    return rid, sale_date


def _validate(f: pd.DataFrame, known: tuple[set[str], set[str]] | None, floor: date):
    """One chunk's checks: its good rows (with ``line_no``) and the checker holding the rest."""
    check = RowChecker(f)
    rid, sale_date = _check_day(check, f, floor)
    sku = f["sku_id"].str.strip()
    check.flag(sku == "", "sku_id", "missing sku_id")
    units = flag_quantity(check, "units")
    out = pd.DataFrame(
        {
            "restaurant_id": rid,
            "sku_id": sku,
            "sale_date": sale_date.dt.date,
            "units": units,
        }
    )
    for col in ("net_sales", "unit_price"):
        if col in f:
            out[col] = flag_money(check, col)
        else:
            out[col] = float("nan")
    if "on_promo" in f:
        raw = f["on_promo"].str.strip().str.lower()
        check.flag(
            ~raw.isin(_TRUE | _FALSE),
            "on_promo",
            "on_promo must be true/false, found " + f["on_promo"].map(repr),
        )
        out["on_promo"] = raw.isin(_TRUE)
    else:
        out["on_promo"] = False

    if known is not None:
        known_r, known_s = known
        check.flag(
            ~out["restaurant_id"].isin(known_r),
            "restaurant_id",
            "unknown restaurant_id "
            + out["restaurant_id"].map(repr)
            + " (load restaurants first, or pass --register-new)",
        )
        check.flag(
            ~out["sku_id"].isin(known_s),
            "sku_id",
            "unknown sku_id "
            + out["sku_id"].map(repr)
            + " (load SKUs first, or pass --register-new)",
        )
    good = out.assign(line_no=f["_line"])[~check.bad]  # (assign on an empty frame adopts the index)
    good["units"] = good["units"].astype("int64")
    return good, check


def _register(conn: psycopg.Connection, batch: int) -> None:
    """Add the file's unknown restaurants and SKUs with placeholder attributes."""
    conn.execute(
        """insert into raw.restaurants (restaurant_id, name, region, opened_on, batch_id)
           select restaurant_id, restaurant_id, 'Unassigned', min(sale_date), %s
             from _daily group by restaurant_id
           on conflict do nothing""",
        (batch,),
    )
    conn.execute(
        """insert into raw.skus (sku_id, name, product_group, launched_on, batch_id)
           select sku_id, sku_id, 'Unassigned', min(sale_date), %s
             from _daily group by sku_id
           on conflict do nothing""",
        (batch,),
    )
