"""Fixtures: every test talks to a real PostgreSQL.

The server is DATABASE_URL's (CI sets it to the machine's Postgres) or, when unset, the embedded
warehouse. Each test session gets its own database, and tests that need a blank warehouse get a
clone of a template with the infra SQL applied, so tests never touch a user's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from warehouse.db import apply_infra, database_url

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(_with_db(url, "postgres"), autocommit=True)


@pytest.fixture(scope="session")
def server_url() -> str:
    return database_url()


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """A database with roles, schemas and raw tables, used as the template for blank warehouses."""
    name = f"frycast_tmpl_{uuid.uuid4().hex[:8]}"
    with _admin(server_url) as conn:
        conn.execute(f'create database "{name}"')
    url = _with_db(server_url, name)
    apply_infra(url)
    yield name
    with _admin(server_url) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _clone(server_url: str, template: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with _admin(server_url) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    return name


def _drop(server_url: str, name: str) -> None:
    with _admin(server_url) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def blank_warehouse(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, empty warehouse (schemas and raw tables only) for one test."""
    name = _clone(server_url, template_db, "frycast_t")
    yield _with_db(server_url, name)
    _drop(server_url, name)


@pytest.fixture(scope="module")
def module_warehouse(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh warehouse shared by the tests of one module (for expensive set-ups)."""
    name = _clone(server_url, template_db, "frycast_m")
    yield _with_db(server_url, name)
    _drop(server_url, name)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(url: str, sql: str, params: tuple = ()):
    return query(url, sql, params)[0][0]


def insert_chain_row(url: str, run_id: int) -> None:
    """One forecast row written by hand (not through write_values): the chain node, one day."""
    query(
        url,
        "insert into forecast.forecast_values (run_id, level, node_key, forecast_date, yhat,"
        " model) values (%s, 'chain', 'chain', '2026-01-01', 10, 'snaive') returning 1",
        (run_id,),
    )
