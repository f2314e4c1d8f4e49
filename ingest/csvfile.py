"""Reading CSV input defensively: every problem is pinned to a file, a line and a column.

A problem with the whole file (it is empty, its header lacks a column, the header is not text in
the expected encoding) raises :class:`InputFileError` and nothing is loaded. A problem with one line
(an undecodable byte, a wrong number of fields, a truncated last line, a bad value) rejects just
that line: it is kept as a :class:`Rejection` and ends up in raw.rejected_rows.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
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


REJECTIONS_KEPT = 10_000  # rejected lines stored per batch; past it only their count is kept
CHUNK_LINES = 50_000  # lines parsed at a time: memory stays flat whatever the file's size
_BLOCK = 1 << 20


class RejectionLog:
    """Every rejection counted (in total and by kind), the first REJECTIONS_KEPT kept whole."""

    def __init__(self, cap: int = REJECTIONS_KEPT):
        self.cap, self.kept, self.count, self.kinds = cap, [], 0, Counter()

    def add(self, rejections: Iterable[Rejection]) -> None:
        for r in rejections:
            self.count += 1
            self.kinds[r.reason.split(" ")[0]] += 1
            if len(self.kept) < self.cap:
                self.kept.append(r)

    @property
    def dropped(self) -> int:
        return self.count - len(self.kept)


@dataclass
class CsvFile:
    """A CSV file whose header has been checked; its lines are read in chunks (:meth:`chunks`)."""

    path: Path
    sha256: str
    header: list[str]
    encoding: str
    separator: bytes  # b"\n", or b"\r" for a file with old Mac line ends
    ends_mid_line: bool
    rejected: RejectionLog = field(default_factory=RejectionLog)
    lines_read: int = 0
    delimiter: str = ","

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw bytes) of every line after the header, streamed."""
        line_no, rest = 0, b""
        with self.path.open("rb") as f:
            while block := f.read(_BLOCK):
                parts = (rest + block).split(self.separator)
                rest = parts.pop()
                for raw in parts:
                    line_no += 1
                    if line_no > 1:
                        yield line_no, raw
        if rest:
            line_no += 1
            if line_no > 1:
                yield line_no, rest

    def chunks(self, size: int = CHUNK_LINES, *, record: bool = True) -> Iterator[pd.DataFrame]:
        """The good lines, ``size`` at a time: one column per header field (str), plus
        ``_line`` and ``_raw``. Lines that cannot be split into the header's fields are rejected
        (and counted in ``lines_read``) when ``record``; a second pass passes ``record=False``.
        At least one frame is yielded, empty when no line is good."""
        rows, line_nos, payloads, yielded = [], [], [], False
        for line_no, raw in self._lines():
            split = self._split(line_no, raw)
            if split is None:
                continue  # a blank line
            if record:
                self.lines_read += 1
            if isinstance(split, Rejection):
                if record:
                    self.rejected.add([split])
                continue
            fields, text = split
            rows.append(fields)
            line_nos.append(line_no)
            payloads.append(text)
            if len(rows) == size:
                yield self._frame(rows, line_nos, payloads)
                rows, line_nos, payloads, yielded = [], [], [], True
        if rows or not yielded:  # at least one frame, if empty
            yield self._frame(rows, line_nos, payloads)

    def lines_at(self, numbers: set[int]) -> dict[int, str]:
        """The text of the given lines (for rejections decided after reading the whole file)."""
        if not numbers:
            return {}
        out = {}
        for line_no, raw in self._lines():
            if line_no in numbers:
                out[line_no] = raw.decode(self.encoding, errors="backslashreplace").rstrip("\r")
        return out

    def _frame(self, rows: list, line_nos: list, payloads: list) -> pd.DataFrame:
        frame = (
            pd.DataFrame(rows, columns=self.header, dtype=str)
            if rows
            else pd.DataFrame({c: pd.Series(dtype=str) for c in self.header})
        )
        frame["_line"] = line_nos
        frame["_raw"] = payloads
        return frame

    def _split(self, line_no: int, raw: bytes) -> tuple[list[str], str] | Rejection | None:
        """A line's fields and text, or why it is rejected, or None for a blank line."""
        text = _decode(raw, self.encoding)
        if text is None:
            bad = _first_bad_byte(raw, self.encoding)
            return Rejection(
                line_no,
                None,
                f"not valid {self.encoding}: byte 0x{raw[bad]:02x} at character {bad + 1} "
                "(wrong encoding? pass --encoding)",
                raw.decode(self.encoding, errors="backslashreplace"),
            )
        text = text.rstrip("\r")
        if not text.strip():
            return None
        if "\x00" in text:
            return Rejection(line_no, None, "the line contains a NUL byte", text)
        try:
            fields = next(csv.reader([text], delimiter=self.delimiter))
        except csv.Error as exc:  # a field over FIELD_LIMIT
            reason = str(exc)
            if "field larger" in reason:
                reason = f"a field is longer than {FIELD_LIMIT // 1024} KiB"
            return Rejection(line_no, None, reason, text)
        n_fields = len(self.header)
        if len(fields) != n_fields:
            # only the file's last line can be cut short by a truncated file
            truncated = self.ends_mid_line and len(fields) < n_fields and self._is_last(line_no)
            reason = (
                f"truncated: the file ends inside this line ({len(fields)} of {n_fields} fields)"
                if truncated
                else f"expected {n_fields} fields, found {len(fields)}"
            )
            return Rejection(line_no, None, reason, text)
        return fields, text

    def _is_last(self, line_no: int) -> bool:
        return line_no == self.last_line

    @property
    def last_line(self) -> int:
        if not hasattr(self, "_last_line"):
            self._last_line = sum(1 for _ in self._lines()) + 1
        return self._last_line


DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}  # a tab is hard to type on a command line


def delimiter_char(name: str) -> str:
    """A --delimiter value as the one character it names: ``,`` ``;`` ``|``, or ``tab``/``\\t``."""
    char = DELIMITER_NAMES.get(name.lower(), name)
    if len(char) != 1 or char in '"\r\n':
        raise ValueError(f"a delimiter is one character (or 'tab'), not {name!r}")
    return char


def read_csv(
    path: Path | str, required: list[str], encoding: str = "utf-8", delimiter: str = ","
) -> CsvFile:
    """Open ``path`` and check its header has ``required``; the lines are read later, streamed.

    One pass over the bytes first (hash, line ends, blank or not); nothing is held in memory.
    """
    path = Path(path)
    digest, has_lf, has_cr, blank, last = hashlib.sha256(), False, False, True, b""
    try:
        with path.open("rb") as f:
            first = f.read(_BLOCK)
            block = first
            while block:
                digest.update(block)
                has_lf = has_lf or b"\n" in block
                has_cr = has_cr or b"\r" in block
                blank = blank and not block.strip()
                last = block[-1:]
                block = f.read(_BLOCK)
    except OSError as exc:
        raise InputFileError(path, None, None, f"cannot read file: {exc.strerror}") from exc
    if blank:
        raise InputFileError(path, None, None, "file is empty")
    separator = b"\r" if has_cr and not has_lf else b"\n"  # old Mac line ends: CR only
    header_raw = first.split(separator, 1)[0]
    header_text = _decode(header_raw, encoding)
    if header_text is None:
        raise InputFileError(
            path,
            1,
            None,
            f"header is not valid {encoding}; the file may use another encoding "
            "(pass --encoding, e.g. --encoding cp1252)",
        )
    try:
        header_text = header_text.lstrip("\ufeff").rstrip("\r")
        header = [h.strip() for h in next(csv.reader([header_text], delimiter=delimiter))]
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
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
            + _delimiter_hint(header_text, delimiter),
        )
    return CsvFile(
        path,
        digest.hexdigest(),
        header,
        encoding,
        separator,
        last != separator,
        delimiter=delimiter,
    )


def _delimiter_hint(header: str, delimiter: str) -> str:
    """A header that lacks columns but holds another common delimiter was likely split wrong."""
    for char, name in ((";", ";"), ("\t", "tab"), (",", ",")):
        if char != delimiter and char in header:
            return f" (is the file {name}-delimited? pass --delimiter {name!r})"
    return ""


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


def text_column(f: pd.DataFrame, col: str) -> pd.Series:
    """A column's stripped text; None where the file has no such column or the cell is blank."""
    if col not in f:
        return pd.Series(None, index=f.index, dtype=object)
    s = f[col].str.strip()
    return s.where(s != "", None)


def date_column(check: RowChecker, f: pd.DataFrame, col: str) -> pd.Series:
    """A date column as timestamps (NaT where blank or absent); unparseable cells flagged."""
    raw = text_column(f, col)
    parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    check.flag(
        raw.notna() & parsed.isna(),
        col,
        f"unparseable {col} " + raw.map(repr) + " (expected YYYY-MM-DD)",
    )
    return parsed


def as_dates(ts: pd.Series) -> pd.Series:
    return ts.dt.date.astype(object).where(ts.notna(), None)


def reject_repeats(check: RowChecker, f: pd.DataFrame, key: pd.Series, col: str) -> None:
    """A key the file gives twice: the later lines are rejected (the first wins)."""
    ok = ~check.bad & key.notna()
    first = f["_line"].where(ok).groupby(key.where(ok)).transform("min")
    check.flag(
        ok & (f["_line"] != first), col, "duplicate of line " + first.astype("Int64").astype(str)
    )


def number_column(check: RowChecker, f: pd.DataFrame, col: str) -> pd.Series:
    """An optional numeric column (NaN where blank or absent); a non-number is flagged."""
    raw = text_column(f, col)
    if col not in f:
        return pd.Series(float("nan"), index=f.index)
    values = parse_number(raw.fillna(""))
    check.flag(raw.notna() & values.isna(), col, f"non-numeric {col} " + raw.map(repr))
    return values
