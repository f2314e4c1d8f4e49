"""Bookkeeping in raw.load_batches: every load is a batch, so reruns are recognised and undone."""

from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg

LOAD_LOCK = "frycast.load"  # one loader at a time writes raw.*


def lock_loads(conn: psycopg.Connection) -> None:
    """Serialize loaders for the rest of the transaction."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOAD_LOCK,))


def open_batch(
    conn: psycopg.Connection,
    source: str,
    *,
    file_name: str | None = None,
    file_sha256: str | None = None,
    params: dict | None = None,
) -> int:
    row = conn.execute(
        """insert into raw.load_batches (source, file_name, file_sha256, params)
           values (%s, %s, %s, %s) returning batch_id""",
        (source, file_name, file_sha256, json.dumps(params or {})),
    ).fetchone()
    return int(row[0])


def close_batch(
    conn: psycopg.Connection,
    batch_id: int,
    *,
    rows_read: int,
    rows_loaded: int,
    rows_rejected: int,
    message: str | None = None,
) -> None:
    conn.execute(
        """update raw.load_batches
              set status = 'loaded', rows_read = %s, rows_loaded = %s, rows_rejected = %s,
                  message = %s, finished_at = clock_timestamp()
            where batch_id = %s""",
        (rows_read, rows_loaded, rows_rejected, message, batch_id),
    )


def record_failed_batch(url: str, source: str, file_name: str | None, message: str) -> int:
    """Record a load that failed as a whole, in its own transaction (the load rolled back)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """insert into raw.load_batches
                   (source, file_name, status, message, finished_at)
               values (%s, %s, 'failed', %s, now()) returning batch_id""",
            (source, file_name, message),
        ).fetchone()
    return int(row[0])


def already_loaded(
    conn: psycopg.Connection, source: str, file_sha256: str, params: dict
) -> int | None:
    """The batch that loaded this very file with the same options, if any.

    Different options (say ``--register-new`` after a first attempt rejected unknown ids) make a
    new batch; staging keeps the latest batch per key, so nothing is counted twice.
    """
    row = conn.execute(
        """select batch_id from raw.load_batches
            where source = %s and file_sha256 = %s and params = %s::jsonb and status = 'loaded'""",
        (source, file_sha256, json.dumps(params)),
    ).fetchone()
    return None if row is None else int(row[0])


PLAUSIBLE_SINCE = date(2000, 1, 1)


def earliest_plausible_day(conn: psycopg.Connection) -> date:
    """The first day a sale may carry: 2000-01-01, or a year before the chain's first opening
    when a restaurant opened earlier. Anything before is a typo (1900-01-01) or a wrong format."""
    first = conn.execute("select min(opened_on) from raw.restaurants").fetchone()[0]
    return min(PLAUSIBLE_SINCE, first - timedelta(days=365)) if first else PLAUSIBLE_SINCE
