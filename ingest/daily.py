"""Import daily sales files with the contract's columns (restaurant × SKU × day)."""

from __future__ import annotations

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
from ingest.copy import copy_frames
from ingest.csvfile import (
    CsvFile,
    InputFileError,
    Rejection,
    RowChecker,
    flag_money,
    flag_quantity,
    read_csv,
)
from ingest.report import ImportReport, finish_batch

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
) -> ImportReport:
    """Load a daily sales CSV into raw.daily_sales as one batch.

    Unknown restaurant or SKU ids are rejected unless ``register_new``, which adds them to
    raw.restaurants / raw.skus with placeholder attributes (region and group 'Unassigned').
    ``complete`` declares that the file holds every item each restaurant sold on its days (an
    item it leaves out sold none); otherwise a day carrying few of the restaurant's usual items
    is taken as partial: the items it leaves out are unknown that day, not zero.
    ``columns`` maps a contract column to the file's header for it (``{"units": "Qty"}``);
    ``place`` (country, subdivision) puts the regions of the file's restaurants there (their
    holiday calendars follow). A re-import of the same file with other options replaces the
    earlier batch.
    """
    names = {c: (columns or {}).get(c, c) for c in COLUMNS}
    renames = {file_col: c for c, file_col in names.items() if file_col != c}
    try:
        csv = read_csv(path, [names[c] for c in REQUIRED], encoding)
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
                    on_promo boolean) on commit drop"""
        )
        for frame in csv.chunks():
            if renames:  # the file's names -> the contract's (a contract name it also has yields)
                frame = frame.drop(columns=[c for c in renames.values() if c in frame])
                frame = frame.rename(columns=renames)
            good, check = _validate(frame, known, floor)
            csv.rejected.add(check.rejections())
            copy_frames(conn, "pg_temp._daily", ["line_no", *COLUMNS], [good])
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
        notes = [replace_batch(conn, earlier[0], batch, earlier[1], params)] if earlier else []
        return finish_batch(conn, batch, csv, loaded, notes)


COLUMNS = [*REQUIRED, *OPTIONAL]


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


def _validate(f: pd.DataFrame, known: tuple[set[str], set[str]] | None, floor: date):
    """One chunk's checks: its good rows (with ``line_no``) and the checker holding the rest."""
    check = RowChecker(f)
    for col in ("restaurant_id", "sku_id"):
        f[col] = f[col].str.strip()
        check.flag(f[col] == "", col, f"missing {col}")

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

    units = flag_quantity(check, "units")
    out = pd.DataFrame(
        {
            "restaurant_id": f["restaurant_id"],
            "sku_id": f["sku_id"],
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
