"""COPY DataFrames into Postgres as CSV text, streamed in chunks (never row-by-row inserts)."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

# The columns every loader writes to raw.daily_sales, in table order.
SALES_COLUMNS = [
    "restaurant_id",
    "sku_id",
    "sale_date",
    "units",
    "net_sales",
    "unit_price",
    "on_promo",
    "batch_id",
]


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV without header; Arrow's C++ writer is several times faster than ``DataFrame.to_csv``."""
    buf = io.BytesIO()
    table = pa.Table.from_pandas(df, preserve_index=False)
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getvalue()


def copy_frames(
    conn: psycopg.Connection, table: str, columns: list[str], frames: Iterable[pd.DataFrame]
) -> int:
    """COPY each frame's ``columns`` into ``schema.table``; returns the number of rows written."""
    schema, name = table.split(".")
    stmt = sql.SQL("copy {}.{} ({}) from stdin with (format csv)").format(
        sql.Identifier(schema),
        sql.Identifier(name),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    rows = 0
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for df in frames:
            if len(df):
                copy.write(to_csv_bytes(df[columns]))
                rows += len(df)
    return rows


def copy_query_frame(conn: psycopg.Connection, query: str) -> pd.DataFrame:
    """A query's rows through COPY (fast for millions of rows); values are inlined by callers."""
    buf = io.BytesIO()
    with conn.cursor().copy(f"copy ({query}) to stdout (format csv, header true)") as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    if buf.getbuffer().nbytes == 0:
        return pd.DataFrame()
    return pacsv.read_csv(buf).to_pandas()


# COPY's binary format (PostgreSQL docs, "COPY", Binary Format): a 19-byte header (signature,
# flags, extension length); per row a 16-bit field count and, per field, a 32-bit length and the
# value in network byte order. An int4[] value (array_send): ndim, has-nulls flag, element type,
# then per dimension its size and lower bound, then per element a 32-bit length and the int4.
BINARY_HEADER = 19


def copy_int4_arrays(conn: psycopg.Connection, query: str) -> tuple[np.ndarray, list, list]:
    """A query of rows (int4 key, int4[] a, int4[] b), none null and no null element, through
    binary COPY: the keys, and each row's two arrays as numpy. One message per row reaches
    Python, so a query that aggregates millions of values into a few thousand rows is read with
    no per-value Python (COPY sends one message per row: 25 M rows cost 16 s in the loop alone)."""
    keys, firsts, seconds = [], [], []
    with conn.cursor().copy(f"copy ({query}) to stdout (format binary)") as copy:
        for i, message in enumerate(copy):
            data = memoryview(message)
            if i == 0:
                data = data[BINARY_HEADER:]
            if len(data) == 2:  # the trailer (-1): the last message; read on so COPY completes
                continue
            (fields,) = struct.unpack_from(">h", data, 0)
            key_len, key = struct.unpack_from(">ii", data, 2)
            if fields != 3 or key_len != 4:
                raise ValueError(f"binary COPY: expected (int4, int4[], int4[]) rows, got {fields}")
            offset = 10
            arrays = []
            for _ in range(2):
                (length,) = struct.unpack_from(">i", data, offset)
                arrays.append(_int4_array(data[offset + 4 : offset + 4 + length]))
                offset += 4 + length
            keys.append(key)
            firsts.append(arrays[0])
            seconds.append(arrays[1])
    return np.asarray(keys, dtype=np.int64), firsts, seconds


INT4_OID = 23  # pg_type.oid of int4: an int8[] or text[] column is refused, never misread


def _int4_array(value: memoryview) -> np.ndarray:
    ndim, has_nulls, element_oid = struct.unpack_from(">iii", value, 0)
    if ndim == 0:
        return np.empty(0, dtype=np.int32)
    if ndim != 1 or has_nulls or element_oid != INT4_OID:
        raise ValueError(
            "binary COPY: expected a one-dimensional int4[] without nulls, got "
            f"{ndim} dimension(s), element type oid {element_oid}"
            + (", with nulls" if has_nulls else "")
        )
    (n,) = struct.unpack_from(">i", value, 12)
    pairs = np.frombuffer(value, dtype=">i4", offset=20, count=2 * n)  # (length 4, value) pairs
    if n and not (pairs[0::2] == 4).all():
        raise ValueError("binary COPY: an int4[] element is not 4 bytes long")
    return pairs[1::2].astype(np.int32)
