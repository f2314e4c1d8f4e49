"""Warehouse access: which database, connections, the infra SQL, and the environment dbt reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import unquote, urlsplit

import psycopg

from frycast.embedded import EmbeddedWarehouse
from frycast.settings import Settings, get_settings


def embedded_warehouse(settings: Settings | None = None) -> EmbeddedWarehouse:
    s = settings or get_settings()
    return EmbeddedWarehouse(s.warehouse_dir, s.embedded_port, s.embedded_database)


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """`DATABASE_URL` when set; otherwise the embedded warehouse (started if `start`)."""
    s = settings or get_settings()
    if s.database_url:
        return s.database_url
    wh = embedded_warehouse(s)
    return wh.up() if start else wh.url


@contextmanager
def connect(url: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    """A psycopg connection; committed on success, rolled back on error, always closed."""
    with psycopg.connect(url or database_url(), **kwargs) as conn:
        yield conn


@contextmanager
def read_only(url: str, timeout_ms: int, *, as_reader: bool = True) -> Iterator[psycopg.Connection]:
    """A connection in a READ ONLY transaction with a statement timeout, as the read-only role
    ``frycast_reader`` unless ``as_reader`` is false (fixed queries on schemas it cannot read).
    Used by the dashboard and the agents' tools: they can look and never change anything."""
    with psycopg.connect(url) as conn:
        if as_reader:
            conn.execute("set role frycast_reader")
        conn.execute("set transaction read only")
        conn.execute(f"set local statement_timeout = {int(timeout_ms)}")
        yield conn
        conn.rollback()


def apply_infra(url: str | None = None, settings: Settings | None = None) -> list[str]:
    """Create roles, schemas and raw tables (idempotent). Returns the files applied."""
    s = settings or get_settings()
    files = sorted(s.infra_sql_dir.glob("*.sql"))
    with connect(url) as conn:
        # Two sessions creating the same role at once can race; serialize on an advisory lock.
        conn.execute("select pg_advisory_xact_lock(hashtext('frycast.apply_infra'))")
        for path in files:
            conn.execute(path.read_text())
    return [p.name for p in files]


def dbt_env(url: str) -> dict[str, str]:
    """The FRYCAST_PG* variables `dbt_project/profiles.yml` reads, from a Postgres URL."""
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    return {
        "FRYCAST_PGHOST": query.get("host") or parts.hostname or "127.0.0.1",
        "FRYCAST_PGPORT": str(parts.port or 5432),
        "FRYCAST_PGUSER": unquote(parts.username or "postgres"),
        "FRYCAST_PGPASSWORD": unquote(parts.password or ""),
        "FRYCAST_PGDATABASE": parts.path.lstrip("/") or "postgres",
    }


def sibling_database(url: str, name: str) -> str:
    """A database named ``name`` on the warehouse's server (created if missing), as a URL.

    Prefect's server keeps its state here rather than in a SQLite file: one server to back up."""
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            # two starters at once: the loser's duplicate_database error means it exists
            with suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def asyncpg_url(url: str) -> str:
    """The same database for SQLAlchemy's asyncpg driver (what Prefect's server speaks)."""
    return urlsplit(url)._replace(scheme="postgresql+asyncpg", query="").geturl()
