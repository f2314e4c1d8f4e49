"""`frycast import calendar FILE`: a planner's own days, checked line by line.

Columns: ``date`` (YYYY-MM-DD), ``name``, ``kind`` (holiday | event | closure), and ``region`` or
``restaurant_id`` [, ``effect`` (expected multiplier, e.g. 1.3), ``known_since``].

- a **holiday** joins its region's calendar (``raw.holidays``, ``source = 'user'``): the
  generated calendar never replaces it;
- a **closure** closes the restaurant that day (``raw.restaurant_closures``; for a region, each
  of its restaurants): the forecast for it is 0 with a zero band;
- an **event** is kept in ``raw.calendar_events`` for its region or restaurant.

A bad line (unknown kind, region or restaurant, both or neither given, a holiday for one
restaurant, a non-numeric effect) is rejected with its reason, like the sales importers'.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg

from ingest.attributes import import_file
from ingest.csvfile import (
    CsvFile,
    RowChecker,
    as_dates,
    date_column,
    number_column,
    reject_repeats,
    text_column,
)
from ingest.report import ImportReport
from warehouse.copy import copy_frames

SOURCE = "calendar_csv"
KINDS = ("holiday", "event", "closure")


def import_calendar(url: str, path: Path | str, *, encoding: str = "utf-8") -> ImportReport:
    """Load a planner's calendar file as one batch (see the module's docstring)."""
    return import_file(
        url,
        path,
        encoding,
        SOURCE,
        ["date", "name", "kind"],
        _load,
        lambda header: (
            None
            if {"region", "restaurant_id"} & set(header)
            else "header has neither 'region' nor 'restaurant_id'"
        ),
    )


def _load(conn: psycopg.Connection, csv: CsvFile, batch: int) -> tuple[int, list[str]]:
    restaurants = dict(conn.execute("select restaurant_id, region from raw.restaurants"))
    regions = set(restaurants.values())
    conn.execute(
        """create temp table _calendar (line_no bigint, day date, name text, kind text,
               region text, restaurant_id text, effect numeric, known_since date)
           on commit drop"""
    )
    for f in csv.chunks():
        check = RowChecker(f)
        day = date_column(check, f, "date")
        check.flag(text_column(f, "date").isna(), "date", "missing date")
        name, kind = text_column(f, "name"), text_column(f, "kind")
        check.flag(name.isna(), "name", "missing name")
        kind = kind.where(kind.isna(), kind.str.lower())
        check.flag(kind.isna(), "kind", f"missing kind ({' | '.join(KINDS)})")
        check.flag(
            ~kind.isin(KINDS),
            "kind",
            "unknown kind " + kind.map(repr) + f" ({' | '.join(KINDS)})",
        )
        region, rid = text_column(f, "region"), text_column(f, "restaurant_id")
        check.flag(region.isna() & rid.isna(), "region", "give a region or a restaurant_id")
        check.flag(
            region.notna() & rid.notna(), "region", "give a region or a restaurant_id, not both"
        )
        check.flag(
            region.notna() & ~region.isin(regions),
            "region",
            "unknown region " + region.map(repr) + " (no restaurant is in it)",
        )
        check.flag(
            rid.notna() & ~rid.isin(restaurants),
            "restaurant_id",
            "unknown restaurant_id " + rid.map(repr) + " (import restaurants first)",
        )
        check.flag(
            (kind == "holiday") & rid.notna(),
            "restaurant_id",
            "a holiday belongs to a region's calendar: give the region (a day one "
            "restaurant closes is a closure)",
        )
        raw_effect = text_column(f, "effect")
        effect = number_column(check, f, "effect")
        check.flag(
            (effect < 0) | (effect > 100),
            "effect",
            "effect out of range 0-100: " + raw_effect.fillna(""),
        )
        known = date_column(check, f, "known_since")
        key = (
            day.astype(str)
            + "|"
            + name.fillna("")
            + "|"
            + region.fillna("")
            + "|"
            + rid.fillna("")
            + "|"
            + kind.fillna("")
        )
        reject_repeats(check, f, key.where(day.notna() & name.notna()), "date")
        csv.rejected.add(check.rejections())
        out = pd.DataFrame(
            {
                "line_no": f["_line"],
                "day": as_dates(day),
                "name": name,
                "kind": kind,
                "region": region,
                "restaurant_id": rid,
                "effect": effect,
                "known_since": as_dates(known),
            }
        )[~check.bad]
        copy_frames(conn, "pg_temp._calendar", list(out.columns), [out])
    return _write(conn, batch), []


def _write(conn: psycopg.Connection, batch: int) -> int:
    holidays = conn.execute(
        """insert into raw.holidays (holiday_date, name, region, source)
           select day, name, region, 'user' from _calendar where kind = 'holiday'
           on conflict (holiday_date, region, name) do update set source = 'user'"""
    ).rowcount
    closures = conn.execute(
        """insert into raw.restaurant_closures
               (restaurant_id, closed_from, closed_to, reason, batch_id)
           select distinct on (r.restaurant_id, c.day) r.restaurant_id, c.day, c.day, c.name, %s
             from _calendar c
             join raw.restaurants r
               on r.restaurant_id = c.restaurant_id or r.region = c.region
            where c.kind = 'closure'
            order by r.restaurant_id, c.day, c.line_no
           on conflict (restaurant_id, closed_from) do update
              set closed_to = greatest(restaurant_closures.closed_to, excluded.closed_to),
                  reason = excluded.reason, batch_id = excluded.batch_id""",
        (batch,),
    ).rowcount
    events = conn.execute(
        """insert into raw.calendar_events
               (event_date, name, region, restaurant_id, expected_effect, known_since, batch_id)
           select day, name, region, restaurant_id, effect, known_since, %s
             from _calendar where kind = 'event'
           on conflict (event_date, name, coalesce(region, ''), coalesce(restaurant_id, ''))
           do update set expected_effect = excluded.expected_effect,
                         known_since = excluded.known_since, batch_id = excluded.batch_id""",
        (batch,),
    ).rowcount
    return holidays + closures + events
