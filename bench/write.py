"""`make bench-write`: the forecast write, the same rows three ways in one process and database.

A run's forecast rows (``nodes`` × 365 days × base and reconciled, shaped like a real run's) are
written (1) as frycast writes them now (``write_values``: a bare partition filled by two COPY
sessions, keyed and attached in one transaction), (2) as it wrote them before the partitions
(one COPY session, CSV encoded on the way, into a table with the five-column primary key), and
(3) as a plain COPY of the same rows already encoded as CSV into a bare copy of the keyed table
(the pipeline benchmark's yardstick). Each is timed to the moment its rows are committed and
keyed; the ratios are what the issue's target (≥ 0.8 × a plain COPY) reads.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import psycopg

from bench.results import fresh_database, write_results
from warehouse.copy import copy_frames, to_csv_bytes
from warehouse.forecast_store import VALUE_COLUMNS, chunks, open_run, write_values


@dataclass
class WriteBenchmark:
    rows: int
    partitioned_s: float
    single_stream_keyed_s: float
    plain_copy_s: float
    partitioned_vs_plain: float
    single_stream_vs_plain: float


def frame(run_id: int, nodes: int, days: int = 365, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    keys = np.array([f"R{i // 100:04d}/S{i % 100:04d}" for i in range(nodes)], dtype=object)
    dates = pd.date_range("2026-01-01", periods=days).date
    n = nodes * days * 2
    yhat = rng.gamma(2.0, 5.0, n).round(6)
    node = np.tile(np.repeat(keys, days), 2)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "level": "restaurant_sku",
            "node_key": node,
            "restaurant_id": [k[:5] for k in node],
            "sku_id": [k[6:] for k in node],
            "product_group": "burgers",
            "region": "London",
            "forecast_date": np.tile(np.tile(dates, nodes), 2),
            "yhat": yhat,
            "yhat_q50": yhat,
            "yhat_lo80": (yhat * 0.6).round(6),
            "yhat_hi80": (yhat * 1.4).round(6),
            "model": "lightgbm",
            "reconciled": np.repeat([False, True], nodes * days),
            "p_open": 0.97,
        }
    )[VALUE_COLUMNS]


def run(server_url: str, nodes: int = 11_000) -> WriteBenchmark:
    url = fresh_database(server_url, "frycast_bench_write")
    runs = [open_run(url, 365, {}) for _ in range(2)]
    values = frame(runs[0], nodes)
    keyed = (
        "create table forecast.{name} (like forecast.forecast_values including defaults,"
        " primary key (run_id, level, node_key, reconciled, forecast_date))"
    )
    with psycopg.connect(url) as conn:
        conn.execute(keyed.format(name="bench_single"))
        conn.execute(keyed.format(name="bench_plain"))
    # (1) now
    started = time.perf_counter()
    rows = write_values(url, runs[0], values)
    partitioned = time.perf_counter() - started
    # (2) before: one session, CSV encoded on the way, into the keyed table
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        copy_frames(conn, "forecast.bench_single", VALUE_COLUMNS, chunks(values))
        conn.commit()
        single = time.perf_counter() - started
    # (3) the yardstick: the same rows already CSV, one COPY into the keyed table
    csv = to_csv_bytes(values)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(
            f"copy forecast.bench_plain ({', '.join(VALUE_COLUMNS)}) from stdin with (format csv)"
        ) as cp:
            for at in range(0, len(csv), 1 << 20):
                cp.write(csv[at : at + (1 << 20)])
        conn.commit()
        plain = time.perf_counter() - started
    result = WriteBenchmark(
        rows,
        round(partitioned, 1),
        round(single, 1),
        round(plain, 1),
        round(plain / partitioned, 2),
        round(plain / single, 2),
    )
    write_results("write.json", [asdict(result)])
    return result
