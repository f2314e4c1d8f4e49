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
    """The batch that loaded this very file with the same options, if any (a rerun adds nothing)."""
    row = conn.execute(
        """select batch_id from raw.load_batches
            where source = %s and file_sha256 = %s and params = %s::jsonb and status = 'loaded'""",
        (source, file_sha256, json.dumps(params)),
    ).fetchone()
    return None if row is None else int(row[0])


def earlier_load(
    conn: psycopg.Connection, source: str, file_sha256: str
) -> tuple[int, dict] | None:
    """The loaded batch of this very file made with other options, and those options.

    The options shape the rows (day or month first, which column holds the quantity, the
    restaurant), so a re-import with different options is a correction: it replaces that batch.
    """
    row = conn.execute(
        """select batch_id, params from raw.load_batches
            where source = %s and file_sha256 = %s and status = 'loaded'
            order by batch_id desc limit 1""",
        (source, file_sha256),
    ).fetchone()
    return None if row is None else (int(row[0]), row[1])


# The rows a batch wrote, compared column by column when a re-import replaces it.
_ROWS = {
    "raw.daily_sales": "restaurant_id, sku_id, sale_date, units, net_sales, unit_price, on_promo",
    "raw.order_lines": (
        "restaurant_id, sale_date, order_number, sku_id, occurrence, units, unit_price"
    ),
}


def replace_batch(
    conn: psycopg.Connection, old: int, new: int, old_params: dict, new_params: dict
) -> str:
    """Retire batch ``old`` in favour of ``new`` (already written): its rows are deleted, the batch
    is kept as ``replaced`` (incremental models then rebuild in full). Returns what changed."""
    changed, units_before, units_after = 0, 0, 0
    for table, cols in _ROWS.items():
        row = conn.execute(
            f"""select
                  (select count(*) from (select {cols} from {table} where batch_id = %(old)s
                                         except all
                                         select {cols} from {table} where batch_id = %(new)s) a)
                + (select count(*) from (select {cols} from {table} where batch_id = %(new)s
                                         except all
                                         select {cols} from {table} where batch_id = %(old)s) b),
                  (select coalesce(sum(units), 0) from {table} where batch_id = %(old)s),
                  (select coalesce(sum(units), 0) from {table} where batch_id = %(new)s)""",
            {"old": old, "new": new},
        ).fetchone()
        changed, units_before, units_after = (
            changed + row[0],
            units_before + row[1],
            units_after + row[2],
        )
        conn.execute(f"delete from {table} where batch_id = %s", (old,))
    # the events a daily file's event columns gave follow its batch (the new one took over its own)
    conn.execute("delete from raw.calendar_events where batch_id = %s", (old,))
    conn.execute(
        """update raw.load_batches set status = 'replaced', replaced_by = %s
            where batch_id = %s""",
        (new, old),
    )
    options = sorted(
        k for k in {*old_params, *new_params} if old_params.get(k) != new_params.get(k)
    )
    return (
        f"replaces batch {old} (same file, options changed: {', '.join(options)}): "
        f"{changed:,} rows changed, units {units_before:,} -> {units_after:,}"
    )


PLAUSIBLE_SINCE = date(2000, 1, 1)


def earliest_plausible_day(conn: psycopg.Connection) -> date:
    """The first day a sale may carry: 2000-01-01, or a year before the chain's first opening
    when a restaurant opened earlier. Anything before is a typo (1900-01-01) or a wrong format."""
    first = conn.execute("select min(opened_on) from raw.restaurants").fetchone()[0]
    return min(PLAUSIBLE_SINCE, first - timedelta(days=365)) if first else PLAUSIBLE_SINCE
