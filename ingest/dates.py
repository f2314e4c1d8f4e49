"""Reading the dates of an export: day or month first is settled by the data, never guessed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingest.csvfile import InputFileError

DAYFIRST = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
MONTHFIRST = ["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
_SLASHED = r"^\s*(\d{1,2})/(\d{1,2})/\d{2,4}"


def day_order(path: Path | str, column: str, raw: pd.Series, lines: pd.Series) -> bool | None:
    """True when the file's slashed dates are day-first, False when month-first, None when it has
    none (ISO dates need no choice). A first number over 12 settles day-first, a second one over
    12 month-first; a file with both, or with only ambiguous dates, is an error that says why."""
    parts = raw.str.extract(_SLASHED).astype(float)
    if parts[0].isna().all():
        return None
    day_first = parts[0] > 12
    month_first = parts[1] > 12
    if day_first.any() and month_first.any():
        a, b = int(lines[day_first].iloc[0]), int(lines[month_first].iloc[0])
        raise InputFileError(
            path,
            None,
            column,
            f"dates disagree on their order: line {a} is day-first ({raw[day_first].iloc[0]}), "
            f"line {b} month-first ({raw[month_first].iloc[0]}); pass --date-format",
        )
    if day_first.any():
        return True
    if month_first.any():
        return False
    raise InputFileError(
        path,
        None,
        column,
        "every date could be day-first or month-first (no day over 12): pass --dayfirst or "
        "--monthfirst",
    )


def parse_dates(raw: pd.Series, formats: list[str]) -> pd.Series:
    """Timestamps in the first of ``formats`` that fits each value; NaT where none does."""
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(raw[todo], format=fmt, errors="coerce")
    return out
