"""What is in the warehouse: row counts per table, for `frycast summary` and `make demo`."""

from __future__ import annotations

import psycopg
from psycopg import sql

SCHEMAS = ("raw", "staging", "intermediate", "features", "marts", "forecast")


def table_counts(url: str) -> list[tuple[str, str, int]]:
    """(schema, table, exact row count) for every table and view in frycast's schemas."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """select table_schema, table_name from information_schema.tables
                where table_schema = any(%s)
                order by array_position(%s, table_schema::text), table_name""",
            (list(SCHEMAS), list(SCHEMAS)),
        ).fetchall()
        return [
            (
                s,
                t,
                conn.execute(
                    sql.SQL("select count(*) from {}.{}").format(
                        sql.Identifier(s), sql.Identifier(t)
                    )
                ).fetchone()[0],
            )
            for s, t in tables
        ]
