"""COPY DataFrames into Postgres as CSV text, streamed in chunks (never row-by-row inserts)."""

from __future__ import annotations

import io
from collections.abc import Iterable

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
