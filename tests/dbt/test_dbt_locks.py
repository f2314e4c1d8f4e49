"""A reader idle in a transaction on a mart cannot stall a dbt build: dbt's sessions wait a
bounded time for the lock (lock_timeout), and the build is retried."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from frycast.settings import get_settings
from warehouse import dbt
from warehouse.db import reader_url
from warehouse.dbt import run_dbt

MART = ["run", "--select", "fct_forecast"]  # a view over forecast.* only: builds on a blank db


@pytest.fixture
def mart(blank_warehouse):
    assert run_dbt(MART, blank_warehouse).success
    return blank_warehouse


def _settings(retries: int):
    return get_settings().model_copy(
        update={
            "dbt_lock_timeout_ms": 500,
            "dbt_lock_retries": retries,
            "dbt_lock_retry_delay_s": 0,
        }
    )


def _reader_in_a_transaction(url: str) -> psycopg.Connection:
    """The read-only login, idle in a transaction that has read the mart (its lock is held)."""
    conn = psycopg.connect(reader_url(url))
    conn.execute("select count(*) from marts.fct_forecast").fetchone()
    return conn


def _bounded(fn, seconds: float):
    """fn() in a thread; fails the test instead of hanging when it takes longer."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("result", fn()), daemon=True)
    started = time.monotonic()
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"dbt still waiting after {seconds} s"
    return out["result"], time.monotonic() - started


def test_a_build_retries_after_a_lock_timeout_and_succeeds(mart, monkeypatch):
    reader = _reader_in_a_transaction(mart)
    pauses = []

    def pause(seconds):  # between attempts the reader's transaction ends
        pauses.append(seconds)
        reader.rollback()

    monkeypatch.setattr(dbt.time, "sleep", pause)
    try:
        result, _ = _bounded(lambda: run_dbt(MART, mart, _settings(retries=2)), 180)
    finally:
        reader.close()
    assert result.success, result.failures
    assert result.attempts == 2 and len(pauses) == 1
    with psycopg.connect(reader_url(mart)) as conn:  # the rebuilt view serves
        assert conn.execute("select count(*) from marts.fct_forecast").fetchone() == (0,)


def test_a_reader_that_keeps_its_lock_fails_the_build_in_bounded_time(mart):
    reader = _reader_in_a_transaction(mart)
    try:
        result, _ = _bounded(lambda: run_dbt(MART, mart, _settings(retries=1)), 180)
    finally:
        reader.close()
    assert not result.success and result.attempts == 2
    assert any("lock timeout" in f for f in result.failures), result.failures
    # the old view was left in place, not dropped half-way
    with psycopg.connect(reader_url(mart)) as conn:
        assert conn.execute("select count(*) from marts.fct_forecast").fetchone() == (0,)
