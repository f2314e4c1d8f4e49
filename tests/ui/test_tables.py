"""The explorer's table without a warehouse: periods (partial ones flagged), last year aligned
on weekdays, the difference in %, the Excel bytes."""

from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

from streamlit_app import tables

# Thursday 2026-01-01 to Tuesday 2026-02-10: a cut first and last ISO week and month
DAYS = pd.date_range("2026-01-01", "2026-02-10")


def daily(values=None) -> pd.DataFrame:
    yhat = np.arange(1.0, len(DAYS) + 1) if values is None else values
    return pd.DataFrame({"date": DAYS.date, "yhat": yhat, "yhat_lo80": 0.0, "yhat_hi80": 99.0})


def test_weeks_run_monday_to_sunday_and_a_cut_week_says_so():
    weeks = tables.by_grain(daily(), "Week", ["yhat"])
    assert list(weeks.columns) == ["date", "days", "partial", "yhat"]  # no summed band
    assert (weeks["date"].dt.weekday == 0).all()  # dated by the Monday
    assert weeks["date"].iloc[0] == pd.Timestamp("2025-12-29")
    # Thu-Sun, five full weeks, Mon-Tue
    assert weeks["days"].tolist() == [4, 7, 7, 7, 7, 7, 2]
    assert weeks["partial"].tolist() == [True, False, False, False, False, False, True]
    assert weeks["yhat"].iloc[0] == 1 + 2 + 3 + 4
    assert weeks["yhat"].sum() == pytest.approx(daily()["yhat"].sum())  # totals preserved


def test_months_are_calendar_months_and_a_short_month_is_partial():
    months = tables.by_grain(daily(), "Month", ["yhat"])
    assert months["date"].tolist() == [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")]
    assert months["days"].tolist() == [31, 10]
    assert months["partial"].tolist() == [False, True]
    assert months["yhat"].sum() == pytest.approx(daily()["yhat"].sum())


def test_day_grain_keeps_the_days_and_their_band():
    days = tables.by_grain(daily(), "Day", ["yhat"])
    assert list(days.columns) == list(daily().columns) and len(days) == len(DAYS)


def test_a_period_with_a_missing_day_has_no_total_rather_than_a_smaller_one():
    values = np.ones(len(DAYS))
    values[10] = np.nan  # Sunday 2026-01-11
    weeks = tables.by_grain(daily(values), "Week", ["yhat"])
    assert weeks["yhat"].isna().tolist() == [False, True, False, False, False, False, False]


def test_last_year_is_364_days_earlier_so_weekdays_line_up():
    actuals = pd.DataFrame(
        {"date": pd.date_range("2025-01-02", "2025-02-08").date, "units": 10.0}
    )  # ends a day short of DAYS shifted back, so the last day and week have none
    actuals.loc[0, "units"] = 5.0
    table = tables.explorer_table(daily(), actuals, "Day")
    first = table.iloc[0]
    assert pd.Timestamp("2025-01-02").weekday() == pd.Timestamp("2026-01-01").weekday()
    assert first["units_last_year"] == 5.0
    assert first["vs_last_year_pct"] == pytest.approx(100 * (1 / 5 - 1))
    assert pd.isna(table["units_last_year"].iloc[-1]) and pd.isna(
        table["vs_last_year_pct"].iloc[-1]
    )
    weeks = tables.explorer_table(daily(), actuals, "Week")
    assert weeks["units_last_year"].iloc[0] == 5 + 10 + 10 + 10
    assert weeks["vs_last_year_pct"].iloc[0] == pytest.approx(round(100 * (10 / 35 - 1), 1))
    assert pd.isna(weeks["units_last_year"].iloc[-1])  # Tuesday has no actual last year


def test_the_excel_file_holds_the_table():
    table = tables.explorer_table(daily(), pd.DataFrame({"date": [], "units": []}), "Week")
    shown = table.assign(date=table["date"].dt.date)
    sheet = openpyxl.load_workbook(io.BytesIO(tables.xlsx(shown))).active
    rows = list(sheet.values)
    assert list(rows[0]) == list(shown.columns)
    assert len(rows) == 1 + len(shown)
    assert [r[3] for r in rows[1:]] == shown["yhat"].tolist()
