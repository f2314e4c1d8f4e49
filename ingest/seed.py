"""Load a synthetic chain into raw.*, replacing any earlier synthetic data (imports are kept)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import psycopg

from ingest.batches import close_batch, lock_loads, open_batch
from ingest.calendar import ensure_region_calendars, merge_holidays
from ingest.generator import Chain, ChainSpec, build_chain, generate_sales
from warehouse.copy import SALES_COLUMNS, copy_frames, to_csv_bytes


@dataclass(frozen=True)
class SeedReport:
    batch_id: int
    spec: ChainSpec
    restaurants: int
    skus: int
    sales_rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.sales_rows / self.seconds if self.seconds else float("nan")


def _replace_synthetic(conn: psycopg.Connection, new_batch: int) -> None:
    """Remove earlier synthetic data; its batches stay in raw.load_batches as ``replaced`` (by
    ``new_batch``), which tells the incremental dbt models to rebuild in full."""
    batches = [
        r[0]
        for r in conn.execute(
            "select batch_id from raw.load_batches"
            " where source = 'synthetic' and status = 'loaded' and batch_id <> %s",
            (new_batch,),
        )
    ]
    only_synthetic = conn.execute(
        "select not exists (select from raw.load_batches where source <> 'synthetic')"
    ).fetchone()[0]
    if only_synthetic:
        # TRUNCATE is instant at 36 M rows, where DELETE would rewrite the table.
        conn.execute(
            "truncate raw.daily_sales, raw.restaurant_closures, raw.promotions, raw.price_changes,"
            " raw.rejected_rows, raw.restaurants, raw.skus"
        )
    elif batches:
        tables = ("daily_sales", "restaurant_closures", "promotions", "price_changes")
        tables = (*tables, "rejected_rows")
        for table in (*tables, "restaurants", "skus"):
            conn.execute(f"delete from raw.{table} where batch_id = any(%s)", (batches,))
    if batches:
        conn.execute(
            "update raw.load_batches set status = 'replaced', replaced_by = %s"
            " where batch_id = any(%s)",
            (new_batch, batches),
        )


def _prefetch(frames: Iterator[pd.DataFrame], depth: int = 3) -> Iterator[pd.DataFrame]:
    """Generate the next restaurants in a thread while Postgres ingests the current one."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work() -> None:
        try:
            for f in frames:
                q.put(f)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)
        q.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def load_chain(url: str, chain: Chain) -> SeedReport:
    """Replace synthetic data in raw.* with ``chain``, in one transaction."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        lock_loads(conn)
        batch = open_batch(conn, "synthetic", params=chain.spec.to_json())
        _replace_synthetic(conn, batch)
        restaurants = chain.restaurants.assign(batch_id=batch)
        skus = chain.skus.assign(batch_id=batch)
        copy_frames(conn, "raw.restaurants", list(restaurants.columns), [restaurants])
        copy_frames(conn, "raw.skus", list(skus.columns), [skus])
        copy_frames(
            conn,
            "raw.restaurant_closures",
            [*chain.closures.columns, "batch_id"],
            [chain.closures.assign(batch_id=batch)],
        )
        copy_frames(
            conn,
            "raw.promotions",
            [*chain.promotions.columns, "batch_id"],
            [chain.promotions.assign(batch_id=batch)],
        )
        copy_frames(
            conn,
            "raw.price_changes",
            [*chain.price_changes.columns, "batch_id"],
            [chain.price_changes.assign(batch_id=batch)],
        )
        merge_holidays(conn, chain.holidays)
        # imported restaurants' regions get calendars for the synthetic years too
        ensure_region_calendars(conn, chain.spec.start.year, chain.spec.end.year)
        sales = (f.assign(batch_id=batch) for f in generate_sales(chain))
        n = copy_frames(conn, "raw.daily_sales", SALES_COLUMNS, _prefetch(sales))
        close_batch(conn, batch, rows_read=n, rows_loaded=n, rows_rejected=0)
    return SeedReport(
        batch,
        chain.spec,
        len(chain.restaurants),
        len(chain.skus),
        n,
        time.perf_counter() - started,
    )


def seed(url: str, spec: ChainSpec) -> SeedReport:
    """Generate and load the chain described by ``spec``."""
    return load_chain(url, build_chain(spec))


def sales_csv(chain: Chain, batch_id: int = 0) -> Iterator[bytes]:
    """The same rows as :func:`load_chain` writes, as CSV chunks (for the plain-COPY benchmark)."""
    for f in generate_sales(chain):
        yield to_csv_bytes(f.assign(batch_id=batch_id)[SALES_COLUMNS])
