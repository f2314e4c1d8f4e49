"""Reading the dates of an export: day or month first is settled by the data, never guessed."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ingest.csvfile import InputFileError

DAYFIRST = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
MONTHFIRST = ["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
_SLASHED = r"^\s*(\d{1,2})/(\d{1,2})/\d{2,4}"


def day_order(
    path: Path | str, column: str, chunks: Iterable[tuple[pd.Series, pd.Series]]
) -> bool | None:
    """True when the file's slashed dates are day-first, False when month-first, None when it has
    none (ISO dates need no choice). A first number over 12 settles day-first, a second one over
    12 month-first; a file with both, or with only ambiguous dates, is an error that says why.

    ``chunks``: (raw dates, their line numbers), a chunk at a time."""
    slashed, day_first, month_first = False, None, None
    for raw, lines in chunks:
        parts = raw.str.extract(_SLASHED).astype(float)
        slashed = slashed or bool(parts[0].notna().any())
        for seen, mask in ((0, parts[0] > 12), (1, parts[1] > 12)):
            if mask.any() and (day_first if seen == 0 else month_first) is None:
                found = (int(lines[mask].iloc[0]), raw[mask].iloc[0])
                if seen == 0:
                    day_first = found
                else:
                    month_first = found
    if not slashed:
        return None
    if day_first and month_first:
        raise InputFileError(
            path,
            None,
            column,
            f"dates disagree on their order: line {day_first[0]} is day-first ({day_first[1]}), "
            f"line {month_first[0]} month-first ({month_first[1]}); pass --date-format",
        )
    if day_first or month_first:
        return bool(day_first)
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
