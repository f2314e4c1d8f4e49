"""Warehouse access: which database, connections, the infra SQL, and the environment dbt reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import quote, unquote, urlsplit

import psycopg

from frycast.settings import Settings, get_settings
from warehouse.embedded import EmbeddedWarehouse


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


OWNER = "frycast_owner"  # the pipeline's login: owns the warehouse's schemas, not a superuser
READER = "frycast_reader"  # the read-only login: dashboard, agents' tools, docs, analysts
PLANNER = "frycast_planner"  # inserts planners' overrides and nothing else


def login_url(url: str, user: str, password: str | None = None) -> str:
    """The same server and database as ``url``, logged in as ``user``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    netloc = f"{auth}@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _user(url: str) -> str:
    return unquote(urlsplit(url).username or "")


def reader_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The read-only login's URL: FRYCAST_READER_URL, else ``url``'s (or the warehouse's) server
    as ``frycast_reader`` with FRYCAST_READER_PASSWORD."""
    s = settings or get_settings()
    if s.reader_url and url is None:
        return s.reader_url
    return login_url(url or database_url(s), READER, s.reader_password)


def planner_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The planner login's URL: FRYCAST_PLANNER_URL, else ``url``'s (or the warehouse's) server
    as ``frycast_planner`` with FRYCAST_PLANNER_PASSWORD."""
    s = settings or get_settings()
    if s.planner_url and url is None:
        return s.planner_url
    return login_url(url or database_url(s), PLANNER, s.planner_password)


def pipeline_url(settings: Settings | None = None) -> str:
    """The warehouse as the pipeline's own login ``frycast_owner`` (roles, schemas and tables
    applied first with DATABASE_URL's login). A URL that already names the owner is used as is."""
    s = settings or get_settings()
    url = database_url(s)
    if _user(url) == OWNER:
        return url
    apply_infra(url, s)
    return login_url(url, OWNER, s.owner_password)


@contextmanager
def read_only(url: str, timeout_ms: int) -> Iterator[psycopg.Connection]:
    """A READ ONLY transaction with a statement timeout on ``url``, which must be a login that
    cannot write (the reader): least privilege rests on the login, not on this transaction.

    Refuses a superuser login outright: a superuser could undo any setting made here."""
    options = f"-c statement_timeout={int(timeout_ms)} -c default_transaction_read_only=on"
    try:
        conn = psycopg.connect(url, options=options, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ReaderUnavailable(
            f"cannot connect as the read-only login {_user(url)!r}: {str(exc).strip()} "
            "(create it with `frycast warehouse init`, or set FRYCAST_READER_URL)"
        ) from exc
    with conn:
        if conn.info.parameter_status("is_superuser") == "on":
            raise PermissionError(
                f"refusing to read as {_user(url)!r}: it is a superuser. Readers connect as "
                f"{READER} (FRYCAST_READER_URL)."
            )
        conn.read_only = True
        yield conn
        conn.rollback()


class ReaderUnavailable(RuntimeError):
    """The read-only login is missing or refused the connection."""


def apply_infra(url: str | None = None, settings: Settings | None = None) -> list[str]:
    """Create roles, schemas and raw tables (idempotent), hand every warehouse object to the
    owner login and set the logins' passwords from the settings. Returns the files applied."""
    from psycopg import sql

    s = settings or get_settings()
    files = sorted(s.infra_sql_dir.glob("*.sql"))
    with connect(url) as conn:
        # Two sessions creating the same role at once can race; serialize on an advisory lock.
        conn.execute("select pg_advisory_xact_lock(hashtext('frycast.apply_infra'))")
        for path in files:
            conn.execute(path.read_text())
        for role, password in (
            (OWNER, s.owner_password),
            (READER, s.reader_password),
            (PLANNER, s.planner_password),
        ):
            if password:
                conn.execute(
                    sql.SQL("alter role {} password {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
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
