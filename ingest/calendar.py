"""Public-holiday calendars per chain region, by the region's country (the `holidays` package,
no downloads).

A region's place is a row of raw.regions (country, optional subdivision, in the package's codes:
``GB``/``ENG``, ``JP``/``13``, ``US``/``CA``); a region without one takes the UK's, with the
subdivision its name implies for the synthetic chain's regions. Generated rows carry
``source = 'generated:<country>[-<subdivision>]'``: when a region's place changes they are
replaced, and rows a user imported (``source = 'user'``) are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import holidays as holidays_lib
import pandas as pd
import psycopg

from warehouse.copy import copy_frames

DEFAULT_COUNTRY = "GB"
# the synthetic chain's regions -> GB subdivision. Other regions without a place: UK-wide.
REGION_SUBDIVISIONS: dict[str, str] = {
    "London": "ENG",
    "South East": "ENG",
    "Midlands": "ENG",
    "North West": "ENG",
    "Scotland": "SCT",
    "Wales": "WLS",
    "Northern Ireland": "NIR",
}

COLUMNS = ["holiday_date", "name", "region", "source"]


@cache
def supported() -> dict[str, tuple[str, ...]]:
    """Country code -> its subdivision codes, as the installed `holidays` package knows them."""
    return {c: tuple(s) for c, s in holidays_lib.list_supported_countries().items()}


def place_problem(country: str | None, subdivision: str | None) -> str | None:
    """Why (country, subdivision) is not a calendar the package has, naming what it has; None
    when it is."""
    if not country:
        return "missing country" if subdivision else None
    subdivs = supported().get(country)
    if subdivs is None:
        return (
            f"unknown country {country!r} (the holidays package's ISO codes, e.g. GB, JP, US, "
            f"DE; {len(supported())} supported)"
        )
    if subdivision and not subdivs:
        return (
            f"{country} has no subdivision calendars in the holidays package (its holidays are "
            f"country-wide): leave subdivision blank"
        )
    if subdivision and subdivision not in subdivs:
        shown = ", ".join(subdivs[:20]) + (", ..." if len(subdivs) > 20 else "")
        return f"unknown subdivision {subdivision!r} of {country} (one of: {shown or 'none'})"
    return None


def region_place(region: str, places: dict[str, tuple[str, str | None]]) -> tuple[str, str | None]:
    """A region's (country, subdivision): its raw.regions row, else the UK default."""
    return places.get(region) or (DEFAULT_COUNTRY, REGION_SUBDIVISIONS.get(region))


def source_of(country: str, subdivision: str | None) -> str:
    return f"generated:{country}" + (f"-{subdivision}" if subdivision else "")


def region_holidays(
    regions: Iterable[str],
    years: Iterable[int],
    places: dict[str, tuple[str, str | None]] | None = None,
) -> pd.DataFrame:
    """One row per (holiday date, name, region, source) for the given regions and years."""
    years, places = list(years), places or {}
    rows = []
    for region in regions:
        country, subdiv = region_place(region, places)
        cal = holidays_lib.country_holidays(country, subdiv=subdiv, years=years)
        source = source_of(country, subdiv)
        for day, names in sorted(cal.items()):
            for name in sorted(set(names.split("; "))):
                rows.append((day, name, region, source))
    return pd.DataFrame(rows, columns=COLUMNS)


def merge_holidays(conn: psycopg.Connection, holidays: pd.DataFrame) -> None:
    """Add calendar rows to raw.holidays; a row already there is kept as it is (a user's wins)."""
    if "source" not in holidays:
        holidays = holidays.assign(source="generated")
    conn.execute("drop table if exists pg_temp._holidays")
    conn.execute(
        "create temp table _holidays (like raw.holidays including defaults) on commit drop"
    )
    copy_frames(conn, "pg_temp._holidays", COLUMNS, [holidays[COLUMNS]])
    conn.execute(
        f"insert into raw.holidays ({', '.join(COLUMNS)}) select {', '.join(COLUMNS)}"
        " from _holidays on conflict do nothing"
    )


def places(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute("select region, country, subdivision from raw.regions")
    return {r: (c, s) for r, c, s in rows}


def set_region_place(
    conn: psycopg.Connection,
    regions: Iterable[str],
    country: str,
    subdivision: str | None,
    batch_id: int | None = None,
) -> None:
    """Put ``regions`` in (country, subdivision); their generated calendars follow at the next
    :func:`ensure_region_calendars` (the caller checked the place with :func:`place_problem`)."""
    for region in regions:
        conn.execute(
            """insert into raw.regions (region, country, subdivision, batch_id)
               values (%s, %s, %s, %s)
               on conflict (region) do update
                  set country = excluded.country, subdivision = excluded.subdivision,
                      batch_id = excluded.batch_id
                where (regions.country, regions.subdivision)
                      is distinct from (excluded.country, excluded.subdivision)""",
            (region, country, subdivision, batch_id),
        )


def ensure_region_calendars(conn: psycopg.Connection, first_year: int, last_year: int) -> None:
    """Holidays of every region in raw.restaurants, by its country, over one common span of years.

    The span covers these years, every year already in raw.holidays, and two years ahead (the
    calendar runs 400 days past the last sale, the forecast horizon), so every region's calendar
    covers the same days. A region whose place changed loses its old generated rows first; rows a
    user imported stay.
    """
    regions = [r for (r,) in conn.execute("select distinct region from raw.restaurants")]
    lo, hi = conn.execute(
        "select extract(year from min(holiday_date))::int,"
        " extract(year from max(holiday_date))::int from raw.holidays"
    ).fetchone()
    first = min(first_year, lo or first_year)
    last = max(last_year + 2, hi or last_year)
    if not regions:
        return
    where = places(conn)
    for region in set(regions) - set(where):  # the warehouse records every region's place
        set_region_place(conn, [region], *region_place(region, where))
    where = places(conn)
    for region in regions:
        conn.execute(
            "delete from raw.holidays where region = %s and source like 'generated%%'"
            " and source <> %s",
            (region, source_of(*region_place(region, where))),
        )
    merge_holidays(conn, region_holidays(regions, range(first, last + 1), where))
