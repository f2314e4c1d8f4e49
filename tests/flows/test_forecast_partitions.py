"""forecast.forecast_values holds each run in a partition of its own (issue 24): written bare by
parallel COPY, keyed and attached in one transaction, dropped whole; a warehouse from before the
partitions keeps its rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.conftest import insert_chain_row, query, scalar
from warehouse.db import OWNER, READER, apply_infra, login_url, reader_url
from warehouse.forecast_store import (
    VALUE_COLUMNS,
    delete_run_rows,
    finish_run,
    open_run,
    publish_run,
    write_values,
)


def _values(run_id: int, nodes: int = 50, days: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(run_id)
    keys = [f"R{i // 5:04d}/S{i % 5:04d}" for i in range(nodes)]
    dates = pd.date_range("2026-01-01", periods=days).date
    n = nodes * days
    yhat = rng.gamma(2.0, 5.0, n)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "level": "restaurant_sku",
            "node_key": np.repeat(keys, days),
            "restaurant_id": [k.split("/")[0] for k in np.repeat(keys, days)],
            "sku_id": [k.split("/")[1] for k in np.repeat(keys, days)],
            "product_group": "burgers",
            "region": "London",
            "forecast_date": np.tile(dates, nodes),
            "yhat": yhat,
            "yhat_q50": yhat,
            "yhat_lo80": yhat * 0.5,
            "yhat_hi80": yhat * 1.5,
            "model": "snaive",
            "reconciled": False,
            "p_open": np.nan,
        }
    )[VALUE_COLUMNS]


def _partitions(url: str) -> dict[str, str]:
    return dict(
        query(
            url,
            """select c.relname, pg_get_expr(c.relpartbound, c.oid)
                 from pg_inherits i join pg_class c on c.oid = i.inhrelid
                where i.inhparent = 'forecast.forecast_values'::regclass""",
        )
    )


def test_a_run_is_written_as_its_own_keyed_partition(blank_warehouse):
    url = blank_warehouse
    run_id = open_run(url, 30, {})
    frame = _values(run_id)
    # WHEN its rows are written (two COPY streams)
    assert write_values(url, run_id, frame, streams=2) == len(frame)
    # THEN they are one partition of their run, keyed like the parent, every row there once
    parts = _partitions(url)
    assert parts[f"forecast_values_r{run_id}"] == f"FOR VALUES IN ('{run_id}')"
    assert parts["forecast_values_other"] == "DEFAULT"
    assert scalar(url, "select count(*) from forecast.forecast_values where run_id = %s",
                  (run_id,)) == len(frame)  # fmt: skip
    stored = pd.DataFrame(
        query(
            url,
            "select node_key, forecast_date, yhat from forecast.forecast_values"
            " where run_id = %s order by 1, 2",
            (run_id,),
        ),
        columns=["node_key", "forecast_date", "yhat"],
    )
    expected = frame.sort_values(["node_key", "forecast_date"])
    np.testing.assert_allclose(stored["yhat"], expected["yhat"])
    key = scalar(
        url,
        """select pg_get_indexdef(i.indexrelid) from pg_index i
            where i.indrelid = %s::regclass and i.indisprimary""",
        (f"forecast.forecast_values_r{run_id}",),
    )
    assert "(run_id, level, node_key, reconciled, forecast_date)" in key
    # the key holds: a duplicate row is refused through the parent
    with pytest.raises(psycopg.errors.UniqueViolation):
        query(
            url,
            "insert into forecast.forecast_values select * from forecast.forecast_values"
            " where run_id = %s limit 1 returning 1",
            (run_id,),
        )
    # the reader login sees it through the parent, as before
    assert scalar(url, "select has_table_privilege('frycast_reader', "
                  "'forecast.forecast_values', 'select')")  # fmt: skip


def test_a_failed_write_leaves_nothing_and_a_rewrite_replaces_the_run(blank_warehouse):
    url = blank_warehouse
    run_id = open_run(url, 30, {})
    bad = _values(run_id)
    bad = pd.concat([bad, bad.iloc[:1]])  # a duplicate key: the key build fails
    with pytest.raises(psycopg.errors.UniqueViolation):
        write_values(url, run_id, bad)
    assert f"forecast_values_r{run_id}" not in _partitions(url)
    assert scalar(url, "select to_regclass(%s)", (f"forecast.forecast_values_r{run_id}",)) is None
    # a retried step: the run's rows are dropped (by partition) and written again, once
    write_values(url, run_id, _values(run_id))
    delete_run_rows(url, run_id)
    assert f"forecast_values_r{run_id}" not in _partitions(url)
    write_values(url, run_id, _values(run_id))
    assert scalar(url, "select count(*) from forecast.forecast_values where run_id = %s",
                  (run_id,)) == 50 * 30  # fmt: skip
    finish_run(url, run_id, status="succeeded")
    publish_run(url, run_id)


def test_rows_written_by_hand_land_in_the_default_partition_and_go_with_the_run(blank_warehouse):
    url = blank_warehouse
    run_id = open_run(url, 28, {})
    insert_chain_row(url, run_id)
    assert scalar(url, "select count(*) from forecast.forecast_values_other") == 1
    delete_run_rows(url, run_id)
    write_values(url, run_id, _values(run_id))  # the default holds none of its rows: attaches
    assert scalar(url, "select count(*) from forecast.forecast_values_other") == 0


def test_the_reader_login_cannot_write_a_run_partition_directly(blank_warehouse):
    """A run's partition is a table of its own: the reader login may read the run through the
    parent, but cannot write, empty, drop or add a partition, whatever table it names."""
    url = blank_warehouse
    owner = login_url(url, OWNER)
    run_id = open_run(owner, 30, {})
    write_values(owner, run_id, _values(run_id))  # as the pipeline writes: the owner login
    part = f"forecast.forecast_values_r{run_id}"
    assert scalar(url, "select tableowner from pg_tables where schemaname = 'forecast'"
                  " and tablename = %s", (part.split(".")[1],)) == OWNER  # fmt: skip
    attempts = [
        f"insert into {part} select * from {part} limit 1",
        f"update {part} set yhat = 0",
        f"delete from {part}",
        f"truncate {part}",
        f"drop table {part}",
        f"alter table forecast.forecast_values detach partition {part}",
        "insert into forecast.forecast_values_other (run_id, level, node_key, forecast_date,"
        f" yhat, model) values ({run_id}, 'chain', 'chain', '2026-01-01', 1, 'x')",
        "create table forecast.forecast_values_r999999 partition of forecast.forecast_values"
        " for values in (999999)",
    ]
    before = scalar(url, f"select sum(yhat) from {part}")
    for statement in attempts:
        with psycopg.connect(reader_url(url), autocommit=True) as conn:
            assert conn.execute("select current_user").fetchone()[0] == READER
            # the login's read-only default off, as a user may: the privileges must refuse
            conn.execute("set default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(reader_url(url)) as conn:
        assert conn.execute(
            "select sum(yhat) from forecast.forecast_values where run_id = %s", (run_id,)
        ).fetchone()[0] == pytest.approx(before)
    assert scalar(url, f"select count(*) from {part}") == 50 * 30
    assert scalar(url, "select count(*) from forecast.forecast_values_other") == 0


def test_a_warehouse_from_before_the_partitions_keeps_its_runs(blank_warehouse):
    url = blank_warehouse
    # GIVEN forecast_values as it was: one plain table holding two runs
    runs = [open_run(url, 30, {}) for _ in range(2)]
    with psycopg.connect(url) as conn:
        conn.execute("drop table forecast.forecast_values cascade")
        conn.execute(
            """create table forecast.forecast_values (
                 run_id bigint not null references forecast.forecast_runs (run_id)
                     on delete cascade,
                 level text not null, node_key text not null, restaurant_id text, sku_id text,
                 product_group text, region text, forecast_date date not null,
                 yhat double precision not null, yhat_q50 double precision,
                 yhat_lo80 double precision, yhat_hi80 double precision, model text not null,
                 reconciled boolean not null default false,
                 primary key (run_id, level, node_key, reconciled, forecast_date))"""
        )
        for run_id in runs:
            with conn.cursor().copy(
                f"copy forecast.forecast_values ({', '.join(VALUE_COLUMNS[:-1])}) from stdin"
            ) as copy:
                for row in _values(run_id, nodes=5, days=3)[VALUE_COLUMNS[:-1]].itertuples(
                    index=False
                ):
                    copy.write_row(row)
    # WHEN the warehouse schema is applied again (every command does on start)
    apply_infra(url)
    apply_infra(url)  # and again: idempotent
    # THEN the old rows are one partition of their runs, with the column added since
    parts = _partitions(url)
    assert parts["forecast_values_unpartitioned"] == f"FOR VALUES IN ('{runs[0]}', '{runs[1]}')"
    assert scalar(url, "select count(*) from forecast.forecast_values") == 2 * 15
    assert scalar(url, "select count(p_open) from forecast.forecast_values") == 0
    # and a new run is written beside them as its own partition
    new = open_run(url, 30, {})
    write_values(url, new, _values(new))
    assert scalar(url, "select count(distinct run_id) from forecast.forecast_values") == 3


def test_the_write_benchmark_writes_the_same_rows_three_ways(server_url, tmp_path, monkeypatch):
    from bench import results, write

    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(write, "write_results", lambda name, payload: None)
    r = write.run(server_url, nodes=20)
    assert r.rows == 20 * 365 * 2
    url = f"{server_url.rsplit('/', 1)[0]}/frycast_bench_write"
    counts = [
        scalar(url, f"select count(*) from forecast.{t}")
        for t in ("forecast_values", "bench_single", "bench_plain")
    ]
    assert counts == [r.rows] * 3
    assert r.partitioned_s > 0 and r.partitioned_vs_plain > 0
