"""Import restaurants and items as data: their attributes from a CSV, checked line by line.

``frycast import restaurants FILE`` (restaurant_id, region [, name, city, country, subdivision,
format, opened_on, closed_on]) and ``frycast import skus FILE`` (sku_id [, name, product_group,
list_price, launched_on, discontinued_on]). A line adds the restaurant or item, or updates what it
says about one already registered (a blank cell keeps the value held); a bad line is rejected
with its reason, like the sales importers'. Values the marts would refuse are refused here, with
the allowed values named: a format outside ``restaurant_formats`` (dbt_project.yml), a country or
subdivision the `holidays` package has no calendar for. A region's country sets its holidays.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import psycopg
import yaml

from ingest.batches import already_loaded, lock_loads, open_batch, record_failed_batch
from ingest.calendar import ensure_region_calendars, place_problem, set_region_place
from ingest.csvfile import (
    CsvFile,
    InputFileError,
    Rejection,
    RowChecker,
    as_dates,
    date_column,
    number_column,
    read_csv,
    reject_repeats,
    text_column,
)
from ingest.report import ImportReport, finish_batch
from warehouse.copy import copy_frames

RESTAURANTS_SOURCE, SKUS_SOURCE = "restaurants_csv", "skus_csv"
DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"


@cache
def allowed_formats() -> tuple[str, ...]:
    """The formats dim_restaurant accepts: one list, in dbt_project.yml's vars."""
    return tuple(yaml.safe_load(DBT_PROJECT.read_text())["vars"]["restaurant_formats"])


def import_restaurants(url: str, path: Path | str, *, encoding: str = "utf-8") -> ImportReport:
    """Add or update restaurants (and their regions' places) from a CSV, as one batch."""
    return import_file(
        url, path, encoding, RESTAURANTS_SOURCE, ["restaurant_id", "region"], _restaurants
    )


def import_skus(url: str, path: Path | str, *, encoding: str = "utf-8") -> ImportReport:
    """Add or update menu items from a CSV, as one batch."""
    return import_file(url, path, encoding, SKUS_SOURCE, ["sku_id"], _skus)


def import_file(url, path, encoding, source, required, load, header_problem=None) -> ImportReport:
    """One attribute or calendar file as one batch: its header checked (``required`` columns,
    and ``header_problem(header)``, a reason or None), a rerun of the same file skipped, its
    lines handed to ``load(conn, csv, batch)`` -> (rows loaded, notes)."""
    try:
        csv = read_csv(path, required, encoding)
        if header_problem and (problem := header_problem(csv.header)):
            raise InputFileError(path, 1, None, problem)
    except InputFileError as exc:
        record_failed_batch(url, source, str(path), str(exc))
        raise
    with psycopg.connect(url) as conn:
        lock_loads(conn)
        params = {"encoding": encoding}
        if (prior := already_loaded(conn, source, csv.sha256, params)) is not None:
            return ImportReport.skipped(csv, prior)
        batch = open_batch(
            conn, source, file_name=str(csv.path), file_sha256=csv.sha256, params=params
        )
        loaded, notes = load(conn, csv, batch)
        return finish_batch(conn, batch, csv, loaded, notes)


def _restaurants(conn: psycopg.Connection, csv: CsvFile, batch: int) -> tuple[int, list[str]]:
    known = dict(conn.execute("select restaurant_id, opened_on from raw.restaurants").fetchall())
    conn.execute(
        """create temp table _restaurants (line_no bigint, restaurant_id text, name text,
               region text, city text, format text, opened_on date, closed_on date,
               country text, subdivision text) on commit drop"""
    )
    formats = allowed_formats()
    for f in csv.chunks():
        check = RowChecker(f)
        rid, region = text_column(f, "restaurant_id"), text_column(f, "region")
        check.flag(rid.isna(), "restaurant_id", "missing restaurant_id")
        check.flag(region.isna(), "region", "missing region")
        fmt = text_column(f, "format")
        check.flag(
            fmt.notna() & ~fmt.isin(formats),
            "format",
            "unknown format " + fmt.map(repr) + f" (allowed: {', '.join(formats)})",
        )
        opened, closed = date_column(check, f, "opened_on"), date_column(check, f, "closed_on")
        is_new = ~rid.isin(known)
        check.flag(is_new & opened.isna(), "opened_on", "missing opened_on for a new restaurant")
        check.flag(
            closed < opened,
            "closed_on",
            "closed_on before opened_on",
        )
        country = text_column(f, "country")
        country = country.where(country.isna(), country.str.upper())
        subdiv = text_column(f, "subdivision")
        problem = pd.Series(
            [place_problem(c, s) for c, s in zip(country, subdiv, strict=True)], index=f.index
        )
        check.flag(problem.notna(), "country" if "country" in f else "subdivision", problem)
        reject_repeats(check, f, rid, "restaurant_id")
        csv.rejected.add(check.rejections())
        good = ~check.bad
        out = pd.DataFrame(
            {
                "line_no": f["_line"],
                "restaurant_id": rid,
                "name": text_column(f, "name"),
                "region": region,
                "city": text_column(f, "city"),
                "format": fmt,
                "opened_on": as_dates(opened),
                "closed_on": as_dates(closed),
                "country": country,
                "subdivision": subdiv,
            }
        )[good]
        copy_frames(conn, "pg_temp._restaurants", list(out.columns), [out])
    _reject_region_conflicts(conn, csv)
    loaded = conn.execute(
        """insert into raw.restaurants as r
               (restaurant_id, name, region, city, format, opened_on, closed_on, batch_id)
           select t.restaurant_id, coalesce(t.name, t.restaurant_id), t.region, t.city,
                  t.format, coalesce(t.opened_on, held.opened_on), t.closed_on, %(batch)s
             from _restaurants t
             left join raw.restaurants held using (restaurant_id)
           on conflict (restaurant_id) do update
              set name = coalesce(nullif(excluded.name, excluded.restaurant_id), r.name),
                  region = excluded.region,
                  city = coalesce(excluded.city, r.city),
                  format = coalesce(excluded.format, r.format),
                  opened_on = coalesce(excluded.opened_on, r.opened_on),
                  closed_on = coalesce(excluded.closed_on, r.closed_on),
                  batch_id = excluded.batch_id""",
        {"batch": batch},
    ).rowcount
    for region, country, subdiv in conn.execute(
        "select distinct region, country, subdivision from _restaurants where country is not null"
    ).fetchall():
        set_region_place(conn, [region], country, subdiv, batch)
    years = conn.execute(
        "select extract(year from min(sale_date))::int, extract(year from max(sale_date))::int"
        " from raw.daily_sales"
    ).fetchone()
    this_year = date.today().year
    ensure_region_calendars(conn, years[0] or this_year, years[1] or this_year)
    return loaded, []


def _reject_region_conflicts(conn: psycopg.Connection, csv: CsvFile) -> None:
    """Two lines placing one region in two countries (or subdivisions): the later is rejected."""
    rows = conn.execute(
        """delete from _restaurants t
            using (select line_no, first_value(line_no) over w as first_line,
                          first_value(coalesce(country, '') || '-' || coalesce(subdivision, ''))
                              over w as first_place
                     from _restaurants where country is not null
                   window w as (partition by region order by line_no)) k
            where t.line_no = k.line_no
              and coalesce(t.country, '') || '-' || coalesce(t.subdivision, '') <> k.first_place
        returning t.line_no, t.region, k.first_line, k.first_place"""
    ).fetchall()
    text = csv.lines_at({r[0] for r in rows})
    csv.rejected.add(
        Rejection(
            line,
            "country",
            f"region {region!r} is placed in {place.rstrip('-')} on line {first}",
            text.get(line, ""),
        )
        for line, region, first, place in sorted(rows)
    )


def _skus(conn: psycopg.Connection, csv: CsvFile, batch: int) -> tuple[int, list[str]]:
    known = {r for (r,) in conn.execute("select sku_id from raw.skus")}
    conn.execute(
        """create temp table _skus_in (line_no bigint, sku_id text, name text,
               product_group text, list_price numeric, launched_on date, discontinued_on date)
           on commit drop"""
    )
    for f in csv.chunks():
        check = RowChecker(f)
        sku = text_column(f, "sku_id")
        check.flag(sku.isna(), "sku_id", "missing sku_id")
        group = text_column(f, "product_group")
        check.flag(
            sku.notna() & ~sku.isin(known) & group.isna(),
            "product_group",
            "missing product_group for a new item",
        )
        raw_price = text_column(f, "list_price")
        price = number_column(check, f, "list_price")
        check.flag(price < 0, "list_price", "negative list_price " + raw_price.map(repr))
        check.flag(price >= 1e8, "list_price", "list_price too large " + raw_price.map(repr))
        launched, gone = (
            date_column(check, f, "launched_on"),
            date_column(check, f, "discontinued_on"),
        )
        check.flag(
            gone < launched,
            "discontinued_on",
            "discontinued_on before launched_on",
        )
        reject_repeats(check, f, sku, "sku_id")
        csv.rejected.add(check.rejections())
        out = pd.DataFrame(
            {
                "line_no": f["_line"],
                "sku_id": sku,
                "name": text_column(f, "name"),
                "product_group": group,
                "list_price": price,
                "launched_on": as_dates(launched),
                "discontinued_on": as_dates(gone),
            }
        )[~check.bad]
        copy_frames(conn, "pg_temp._skus_in", list(out.columns), [out])
    loaded = conn.execute(
        """insert into raw.skus as s
               (sku_id, name, product_group, list_price, launched_on, discontinued_on, batch_id)
           select t.sku_id, coalesce(t.name, t.sku_id),
                  coalesce(t.product_group, held.product_group), t.list_price, t.launched_on,
                  t.discontinued_on, %(batch)s
             from _skus_in t
             left join raw.skus held using (sku_id)
           on conflict (sku_id) do update
              set name = coalesce(nullif(excluded.name, excluded.sku_id), s.name),
                  product_group = coalesce(excluded.product_group, s.product_group),
                  list_price = coalesce(excluded.list_price, s.list_price),
                  launched_on = coalesce(excluded.launched_on, s.launched_on),
                  discontinued_on = coalesce(excluded.discontinued_on, s.discontinued_on),
                  batch_id = excluded.batch_id""",
        {"batch": batch},
    ).rowcount
    return loaded, []
