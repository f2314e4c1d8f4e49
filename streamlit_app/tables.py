"""The explorer's table: a node's daily frames at day, week or month grain, the same days last
year beside the forecast, and the shown table as an Excel file. Pure pandas, tested without a
warehouse (tests/ui/test_tables.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pandas as pd

GRAINS = ("Day", "Week", "Month")
_FREQ = {"Week": "W-SUN", "Month": "M"}  # ISO weeks (Monday to Sunday), calendar months
LAST_YEAR = timedelta(days=364)  # 52 weeks back: the same weekday, so weekly patterns line up


def by_grain(daily: pd.DataFrame, grain: str, sums: list[str]) -> pd.DataFrame:
    """The `sums` columns of a daily frame totalled per period.

    `date` becomes the period's first day, `days` the number of the frame's days in it and
    `partial` says the frame holds fewer days than the period has (a cut first or last period),
    so a short period is never read as a full one. A period's total is NaN when one of its days
    has no value (e.g. no actuals last year), not a smaller number. Day grain returns the frame.
    """
    if grain == "Day":
        return daily
    dates = pd.to_datetime(daily["date"])
    grouped = daily.groupby(dates.dt.to_period(_FREQ[grain]))
    periods = grouped.size().index
    out = pd.DataFrame({"date": periods.start_time, "days": grouped.size()})
    out["partial"] = out["days"] < (periods.end_time.normalize() - periods.start_time).days + 1
    for col in sums:
        out[col] = grouped[col].sum().where(grouped[col].count() == out["days"])
    return out.reset_index(drop=True)


def with_last_year(forecast: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """The forecast with `units_last_year`: the actuals 364 days before each day (NaN if none)."""
    shifted = pd.DataFrame(
        {"date": pd.to_datetime(actuals["date"]) + LAST_YEAR, "units_last_year": actuals["units"]}
    )
    fc = forecast.assign(date=pd.to_datetime(forecast["date"]))
    return fc.merge(shifted, on="date", how="left")


def vs_last_year(table: pd.DataFrame) -> pd.DataFrame:
    """`vs_last_year_pct`: the forecast against last year's actuals, in % (NaN without them)."""
    ly = table["units_last_year"].where(table["units_last_year"] > 0)
    return table.assign(vs_last_year_pct=(100 * (table["yhat"] / ly - 1)).round(1))


def explorer_table(forecast: pd.DataFrame, actuals_last_year: pd.DataFrame, grain: str):
    """What the explorer shows and downloads: the forecast at `grain` beside last year."""
    daily = with_last_year(forecast, actuals_last_year)
    return vs_last_year(by_grain(daily, grain, ["yhat", "units_last_year"]))


def xlsx(table: pd.DataFrame, sheet: str = "forecast") -> bytes:
    buf = io.BytesIO()
    table.to_excel(buf, index=False, sheet_name=sheet, engine="openpyxl")
    return buf.getvalue()
