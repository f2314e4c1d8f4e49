"""Public-holiday calendars per chain region (the `holidays` package, no downloads)."""

from __future__ import annotations

from collections.abc import Iterable

import holidays as holidays_lib
import pandas as pd
import psycopg

from ingest.copy import copy_frames

# region -> holidays subdivision of GB. Regions we do not know get the UK-wide calendar.
REGION_SUBDIVISIONS: dict[str, str] = {
    "London": "ENG",
    "South East": "ENG",
    "Midlands": "ENG",
    "North West": "ENG",
    "Scotland": "SCT",
    "Wales": "WLS",
    "Northern Ireland": "NIR",
}

COLUMNS = ["holiday_date", "name", "region"]


def region_holidays(regions: Iterable[str], years: Iterable[int]) -> pd.DataFrame:
    """One row per (holiday date, name, region) for the given regions and years."""
    years = list(years)
    rows = []
    for region in regions:
        cal = holidays_lib.country_holidays(
            "GB", subdiv=REGION_SUBDIVISIONS.get(region), years=years
        )
        for day, names in sorted(cal.items()):
            for name in sorted(set(names.split("; "))):
                rows.append((day, name, region))
    return pd.DataFrame(rows, columns=COLUMNS)


def merge_holidays(conn: psycopg.Connection, holidays: pd.DataFrame) -> None:
    """Add calendar rows to raw.holidays; rows already there are kept as they are."""
    conn.execute("drop table if exists pg_temp._holidays")
    conn.execute(
        "create temp table _holidays (like raw.holidays including defaults) on commit drop"
    )
    copy_frames(conn, "pg_temp._holidays", COLUMNS, [holidays[COLUMNS]])
    conn.execute("insert into raw.holidays select * from _holidays on conflict do nothing")


def ensure_region_calendars(conn: psycopg.Connection, first_year: int, last_year: int) -> None:
    """Holidays of every region in raw.restaurants over one common span of years.

    The span covers these years, every year already in raw.holidays, and two years ahead (the
    calendar runs past the last sale by the forecast horizon), so an imported restaurant's region
    gets the same calendar as the synthetic chain's, and the other way round.
    """
    regions = [r for (r,) in conn.execute("select distinct region from raw.restaurants")]
    lo, hi = conn.execute(
        "select extract(year from min(holiday_date))::int,"
        " extract(year from max(holiday_date))::int from raw.holidays"
    ).fetchone()
    first = min(first_year, lo or first_year)
    last = max(last_year + 2, hi or last_year)
    if regions:
        merge_holidays(conn, region_holidays(regions, range(first, last + 1)))
