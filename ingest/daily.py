"""Import daily sales files with the contract's columns (restaurant × SKU × day)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

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
    CsvFile,
    InputFileError,
    RowChecker,
    flag_money,
    flag_quantity,
    read_csv,
)
from ingest.report import ImportReport, write_rejections

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
) -> ImportReport:
    """Load a daily sales CSV into raw.daily_sales as one batch.

    Unknown restaurant or SKU ids are rejected unless ``register_new``, which adds them to
    raw.restaurants / raw.skus with placeholder attributes (region and group 'Unassigned').
    ``complete`` declares that the file holds every item each restaurant sold on its days (an
    item it leaves out sold none); otherwise a day carrying few of the restaurant's usual items
    is taken as partial: the items it leaves out are unknown that day, not zero.
    A re-import of the same file with other options replaces the earlier batch.
    """
    try:
        csv = read_csv(path, REQUIRED, encoding)
    except InputFileError as exc:
        record_failed_batch(url, SOURCE, str(path), str(exc))
        raise
    with psycopg.connect(url) as conn:
        lock_loads(conn)
        params = {"register_new": register_new, "encoding": encoding, "complete": complete}
        if (prior := already_loaded(conn, SOURCE, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        earlier = earlier_load(conn, SOURCE, csv.sha256)
        batch = open_batch(
            conn, SOURCE, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        good, check = _validate(conn, csv, register_new)
        if register_new:
            _register(conn, good, batch)
        if not good.empty:
            ensure_region_calendars(
                conn, good["sale_date"].min().year, good["sale_date"].max().year
            )
        loaded = copy_frames(
            conn,
            "raw.daily_sales",
            [*REQUIRED, *OPTIONAL, "batch_id"],
            [good.assign(batch_id=batch)],
        )
        notes = [replace_batch(conn, earlier[0], batch, earlier[1], params)] if earlier else []
        rejected = [*csv.rejected, *check.rejections()]
        write_rejections(conn, batch, rejected)
        close_batch(
            conn,
            batch,
            rows_read=csv.lines_read,
            rows_loaded=loaded,
            rows_rejected=len(rejected),
            message="; ".join(notes) or None,
        )
    return ImportReport(csv.path, batch, csv.lines_read, loaded, rejected, notes=notes)


def _validate(conn: psycopg.Connection, csv: CsvFile, register_new: bool):
    f = csv.frame
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
    floor = earliest_plausible_day(conn)
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

    if not register_new:
        known_r = {r[0] for r in conn.execute("select restaurant_id from raw.restaurants")}
        known_s = {r[0] for r in conn.execute("select sku_id from raw.skus")}
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

    # A key seen twice in one file: the first good occurrence wins, later ones are rejected.
    key = ["restaurant_id", "sku_id", "sale_date"]
    ok = out[~check.bad].assign(_line=f["_line"])
    first_line = ok.groupby(key)["_line"].transform("min")
    dup = (ok["_line"] != first_line).reindex(out.index, fill_value=False)
    check.flag(
        dup, None, "duplicate of line " + first_line.reindex(out.index).astype("Int64").astype(str)
    )

    good = out[~check.bad].copy()
    good["units"] = good["units"].astype("int64")
    return good, check


def _register(conn: psycopg.Connection, good: pd.DataFrame, batch: int) -> None:
    firsts = good.groupby("restaurant_id")["sale_date"].min()
    conn.cursor().executemany(
        """insert into raw.restaurants (restaurant_id, name, region, opened_on, batch_id)
           values (%s, %s, 'Unassigned', %s, %s) on conflict do nothing""",
        [(r, r, d, batch) for r, d in firsts.items()],
    )
    skus = good.groupby("sku_id")["sale_date"].min()
    conn.cursor().executemany(
        """insert into raw.skus (sku_id, name, product_group, launched_on, batch_id)
           values (%s, %s, 'Unassigned', %s, %s) on conflict do nothing""",
        [(s, s, d, batch) for s, d in skus.items()],
    )
