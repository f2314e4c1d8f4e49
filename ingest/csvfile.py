"""Reading CSV input defensively: every problem is pinned to a file, a line and a column.

A problem with the whole file (it is empty, its header lacks a column, the header is not text in
the expected encoding) raises :class:`InputFileError` and nothing is loaded. A problem with one line
(an undecodable byte, a wrong number of fields, a truncated last line, a bad value) rejects just
that line: it is kept as a :class:`Rejection` and ends up in raw.rejected_rows.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FIELD_LIMIT = 128 * 1024  # characters in one field: past it, the line is rejected
MAX_UNITS = 1_000_000  # one item in one restaurant on one day: more is not a sale, it is a typo
MONEY_LIMITS = {"net_sales": 1e10, "unit_price": 1e8}  # numeric(12, 2) and numeric(10, 2)
csv.field_size_limit(FIELD_LIMIT)


class InputFileError(ValueError):
    """The file as a whole cannot be loaded."""

    def __init__(self, path: Path | str, line: int | None, column: str | None, problem: str):
        self.path, self.line, self.column, self.problem = str(path), line, column, problem
        where = (
            self.path
            + (f", line {line}" if line else "")
            + (f", column {column!r}" if column else "")
        )
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Rejection:
    line_no: int
    column: str | None
    reason: str
    payload: str


@dataclass
class CsvFile:
    """The good lines of a CSV file as strings, with their physical line numbers."""

    path: Path
    sha256: str
    header: list[str]
    frame: pd.DataFrame  # one column per header field (str), plus "_line" and "_raw"
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def lines_read(self) -> int:
        return len(self.frame) + len(self.rejected)


def read_csv(path: Path | str, required: list[str], encoding: str = "utf-8") -> CsvFile:
    """Read ``path``; check the header has ``required``; split good lines from rejected ones."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, None, None, f"cannot read file: {exc.strerror}") from exc
    sha = hashlib.sha256(data).hexdigest()
    if not data.strip():
        raise InputFileError(path, None, None, "file is empty")
    if b"\n" not in data and b"\r" in data:  # old Mac line ends: CR only
        data = data.replace(b"\r", b"\n")
    ends_mid_line = not data.endswith(b"\n")
    raw_lines = data.split(b"\n")
    if not ends_mid_line:
        raw_lines.pop()  # the empty string after the final newline

    header_text = _decode(raw_lines[0], encoding)
    if header_text is None:
        raise InputFileError(
            path,
            1,
            None,
            f"header is not valid {encoding}; the file may use another encoding "
            "(pass --encoding, e.g. --encoding cp1252)",
        )
    try:
        header = [h.strip() for h in next(csv.reader([header_text.lstrip("\ufeff").rstrip("\r")]))]
    except csv.Error as exc:
        raise InputFileError(path, 1, None, f"header cannot be read: {exc}") from exc
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputFileError(
            path, 1, ", ".join(repeated), f"the header names {', '.join(repeated)} more than once"
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise InputFileError(
            path,
            1,
            ", ".join(missing),
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(header)}",
        )

    rows, line_nos, payloads, rejected = [], [], [], []
    n_fields = len(header)
    last = len(raw_lines)
    for line_no, raw in enumerate(raw_lines[1:], start=2):
        text = _decode(raw, encoding)
        if text is None:
            bad = _first_bad_byte(raw, encoding)
            rejected.append(
                Rejection(
                    line_no,
                    None,
                    f"not valid {encoding}: byte 0x{raw[bad]:02x} at character {bad + 1} "
                    "(wrong encoding? pass --encoding)",
                    raw.decode(encoding, errors="backslashreplace"),
                )
            )
            continue
        text = text.rstrip("\r")
        if not text.strip():
            continue
        if "\x00" in text:
            rejected.append(Rejection(line_no, None, "the line contains a NUL byte", text))
            continue
        try:
            fields = next(csv.reader([text]))
        except csv.Error as exc:  # a field over FIELD_LIMIT
            reason = str(exc)
            if "field larger" in reason:
                reason = f"a field is longer than {FIELD_LIMIT // 1024} KiB"
            rejected.append(Rejection(line_no, None, reason, text))
            continue
        if len(fields) != n_fields:
            truncated = ends_mid_line and line_no == last and len(fields) < n_fields
            reason = (
                f"truncated: the file ends inside this line ({len(fields)} of {n_fields} fields)"
                if truncated
                else f"expected {n_fields} fields, found {len(fields)}"
            )
            rejected.append(Rejection(line_no, None, reason, text))
            continue
        rows.append(fields)
        line_nos.append(line_no)
        payloads.append(text)

    frame = (
        pd.DataFrame(rows, columns=header, dtype=str)
        if rows
        else pd.DataFrame({c: pd.Series(dtype=str) for c in header})
    )
    frame["_line"] = line_nos
    frame["_raw"] = payloads
    return CsvFile(path, sha, header, frame, rejected)


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _first_bad_byte(raw: bytes, encoding: str) -> int:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


class RowChecker:
    """Collects the first problem of each row, column by column, in a vectorised way."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.reason = pd.Series("", index=frame.index, dtype=object)
        self.column = pd.Series("", index=frame.index, dtype=object)

    def flag(self, mask: pd.Series, column: str | None, reason: pd.Series | str) -> None:
        """Mark rows where ``mask`` holds (and that have no earlier problem)."""
        new = mask.fillna(False).astype(bool) & (self.reason == "")
        if not new.any():
            return
        self.reason[new] = reason[new] if isinstance(reason, pd.Series) else reason
        self.column[new] = column or ""

    @property
    def bad(self) -> pd.Series:
        return self.reason != ""

    def rejections(self) -> list[Rejection]:
        bad = self.frame[self.bad]
        return [
            Rejection(int(line), col or None, reason, raw)
            for line, col, reason, raw in zip(
                bad["_line"],
                self.column[self.bad],
                self.reason[self.bad],
                bad["_raw"],
                strict=True,
            )
        ]


def parse_number(values: pd.Series) -> pd.Series:
    """Numbers as floats; blanks and non-numbers become NaN (callers decide which is an error)."""
    return pd.to_numeric(values.str.strip(), errors="coerce")


def flag_quantity(check: RowChecker, column: str, *, allow_zero: bool = True) -> pd.Series:
    """Check a unit count column: written as a whole number (no exponent, no infinity), not
    negative, at most MAX_UNITS. Returns it as floats."""
    raw = check.frame[column].str.strip()
    qty = parse_number(raw)
    check.flag(raw == "", column, "missing quantity")
    check.flag(qty.isna(), column, "non-numeric quantity " + raw.map(repr))
    check.flag(~np.isfinite(qty), column, "quantity is not a finite number: " + raw.map(repr))
    check.flag(qty < 0, column, "negative quantity " + raw)
    if not allow_zero:
        check.flag(qty == 0, column, "zero quantity")
    check.flag(qty != qty.round(), column, "quantity is not a whole number: " + raw)
    plain = raw.str.fullmatch(r"\+?\d+(\.0*)?")
    check.flag(~plain, column, "quantity is not written as a plain number: " + raw.map(repr))
    check.flag(qty > MAX_UNITS, column, f"implausible quantity (over {MAX_UNITS:,} a day): " + raw)
    return qty


def flag_money(check: RowChecker, column: str) -> pd.Series:
    """Check an optional money column: blank is missing (NaN); otherwise a finite, non-negative
    number within its column's precision. Returns it as floats."""
    raw = check.frame[column].str.strip()
    val = parse_number(raw)
    check.flag((raw != "") & val.isna(), column, f"non-numeric {column} " + raw.map(repr))
    check.flag(val.notna() & ~np.isfinite(val), column, f"{column} is not finite: " + raw.map(repr))
    check.flag(val < 0, column, f"negative {column} " + raw)
    limit = MONEY_LIMITS.get(column, 1e10)
    check.flag(val.abs() >= limit, column, f"{column} beyond {limit:,.0f}: " + raw)
    return val
