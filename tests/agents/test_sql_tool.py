"""The agents' SQL tool and the reader login cannot change the warehouse, whatever they are sent.

Every statement below is tried through the tool function (as the loop calls it) and through
`frycast agents sql` (as a user would), on real PostgreSQL; after each, a probe shows that
nothing changed: no table appeared, row counts and the runs table are as they were."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from typer.testing import CliRunner

from agents.sql_guard import Refused
from agents.tools import ALL_TOOLS, Context, call
from cli.main import app
from frycast.settings import get_settings
from tests.conftest import query
from warehouse.db import OWNER, READER, apply_infra, login_url, read_only, reader_url
from warehouse.forecast_store import open_run

# (statement, what the refusal says)
REFUSED = [
    ("select 1; commit; reset role; create table public.probe (a int)", "exactly one statement"),
    ("select 1; commit; select pg_sleep(4)", "exactly one statement"),
    ("commit", "TRANSACTION"),
    ("rollback", "TRANSACTION"),
    ("reset role", "VARIABLESET"),
    ("set role postgres", "VARIABLESET"),
    ("set statement_timeout = 0", "VARIABLESET"),
    ("set session characteristics as transaction read write", "VARIABLESET"),
    ("copy forecast.forecast_runs to stdout", "COPY"),
    ("copy forecast.forecast_runs from '/etc/passwd'", "COPY"),
    ("do $$ begin create table public.probe (a int); end $$", "DO"),
    ("listen probe", "LISTEN"),
    ("prepare probe as select 1", "PREPARE"),
    ("create table public.probe (a int)", "CREATE"),
    ("delete from forecast.forecast_runs", "DELETE"),
    ("update forecast.forecast_runs set published = true", "UPDATE"),
    ("with d as (delete from forecast.forecast_runs returning 1) select * from d", "data-modif"),
    ("select * into public.probe from forecast.forecast_runs", "INTO"),
    ("select * from forecast.forecast_runs for update", "FOR UPDATE"),
    ("select set_config('role', 'none', true)", "set_config()"),
    (
        "select set_config('role','none',true), query_to_xml('select 1 from raw.daily_sales',"
        " true, false, '')",
        "set_config()",
    ),
    ("select query_to_xml('select * from pg_authid', true, false, '')", "query_to_xml()"),
    ("select lo_import('/etc/passwd')", "lo_import()"),
    ("select pg_read_file('/etc/passwd')", "pg_read_file()"),
    ("select pg_catalog.pg_ls_dir('.')", "pg_ls_dir()"),
    ("select dblink('host=127.0.0.1', 'select 1')", "dblink()"),
    ("select nextval('forecast.drift_check_id')", "nextval()"),
    ("select pg_advisory_lock(727001)", "pg_advisory_lock()"),
    ("selec 1", "not valid PostgreSQL"),
]


@pytest.fixture
def warehouse(blank_warehouse):
    apply_infra(blank_warehouse)  # the database-level grants (TEMP, CREATE) of this database
    run_id = open_run(blank_warehouse, 365, {})
    return blank_warehouse, run_id


def _state(url: str) -> tuple:
    """What a successful escape would change: tables, runs, sequences, large objects."""
    return (
        query(url, "select count(*) from pg_tables where tablename = 'probe'")[0][0],
        query(url, "select run_id, status, published from forecast.forecast_runs order by 1"),
        query(url, "select last_value from forecast.drift_check_id")[0][0],
        query(url, "select count(*) from pg_largeobject_metadata")[0][0],
    )


@pytest.mark.parametrize(("statement", "says"), REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_the_tool_refuses_and_nothing_changes(warehouse, statement, says):
    url, run_id = warehouse
    before = _state(url)
    ctx = Context(url, run_id, sql_timeout_ms=2000)
    with pytest.raises(Refused, match=None) as info:
        call(ALL_TOOLS["sql"], ctx, {"query": statement})
    assert says in str(info.value)
    assert _state(url) == before


@pytest.fixture
def cli(warehouse, monkeypatch):
    url, _ = warehouse
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FRYCAST_AGENT_SQL_TIMEOUT_MS", "1000")
    monkeypatch.delenv("FRYCAST_READER_URL", raising=False)
    get_settings.cache_clear()
    yield lambda q: CliRunner().invoke(app, ["agents", "sql", q])
    get_settings.cache_clear()


@pytest.mark.parametrize(("statement", "says"), REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_frycast_agents_sql_refuses_and_nothing_changes(warehouse, cli, statement, says):
    url, _ = warehouse
    before = _state(url)
    result = cli(statement)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["is_error"] and says in out["error"]
    assert _state(url) == before


def test_frycast_agents_sql_answers_as_the_reader_and_outlives_no_timeout(warehouse, cli):
    url, run_id = warehouse
    result = cli("select current_user, session_user, current_setting('transaction_read_only')")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["rows"] == [[READER, READER, "on"]]
    started = time.monotonic()
    slow = cli("select pg_sleep(4)")
    assert slow.exit_code == 1 and "QueryCanceled" in json.loads(slow.stdout)["error"]
    assert time.monotonic() - started < 3.5
    # the superuser's secrets and the server's files stay out of reach of the reader
    for statement, error in [
        ("select rolpassword from pg_authid", "permission denied"),
        ("select * from mlflow.alembic_version", "permission denied|does not exist"),
        ("select count(*) from raw.daily_sales", "permission denied"),
    ]:
        out = json.loads(cli(statement).stdout)
        assert out["is_error"], statement
        assert any(e in out["error"] for e in error.split("|")), out["error"]


def test_frycast_agents_tool_runs_any_tool_as_the_agent_does(warehouse, cli):
    url, run_id = warehouse
    run = CliRunner().invoke(app, ["agents", "tool", "run_overview", "--run-id", str(run_id)])
    assert run.exit_code == 0, run.stdout
    assert json.loads(run.stdout)["run"]["run_id"] == run_id
    bad = CliRunner().invoke(
        app, ["agents", "tool", "residual_patterns", "--run-id", "1", "--input", '{"level": "x"}']
    )
    assert bad.exit_code == 1 and "'x' is not one of" in json.loads(bad.stdout)["error"]
    unknown = CliRunner().invoke(app, ["agents", "tool", "forecast_it", "--run-id", "1"])
    assert unknown.exit_code == 1 and "unknown tool 'forecast_it'" in unknown.stdout


def test_results_are_capped_in_rows_and_bytes(warehouse):
    url, run_id = warehouse
    ctx = Context(url, run_id, row_limit=1000, byte_limit=2000)
    out = call(
        ALL_TOOLS["sql"], ctx, {"query": "select repeat('x', 300) from generate_series(1, 500)"}
    )
    data = json.loads(out)
    assert data["truncated"] and 0 < len(data["rows"]) < 10
    assert len(json.dumps(data["rows"])) <= 2000


def test_the_reader_login_cannot_write_create_or_escalate(warehouse):
    """The floor under the tool: the login itself, even with the tool's checks out of the way
    and the session set back to read-write by hand."""
    url, _ = warehouse
    attempts = [
        "insert into forecast.forecast_runs (horizon_days) values (1)",
        "update forecast.forecast_runs set published = true",
        "delete from forecast.forecast_runs",
        "create table public.probe (a int)",
        "create table marts.probe (a int)",
        "create temporary table probe (a int)",
        "create schema probe",
        "select * from mlflow.alembic_version",
        "select pg_read_file('/etc/passwd')",
        "select lo_import('/etc/passwd')",
        "select lo_create(0)",
        "select lo_from_bytea(0, 'x')",
        "select pg_advisory_lock(727001)",
        "select pg_try_advisory_xact_lock(727001)",
        "set role postgres",
        f"set role {OWNER}",
        "select nextval('forecast.drift_check_id')",
        "select rolpassword from pg_authid",
    ]
    before = _state(url)
    for statement in attempts:
        with psycopg.connect(reader_url(url), autocommit=True) as conn:
            assert conn.execute("select current_user").fetchone()[0] == READER
            conn.execute("set default_transaction_read_only = off")  # a user may; no matter
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
    assert _state(url) == before
    roles = query(
        url,
        "select rolname, rolsuper, rolcreaterole, rolcreatedb from pg_roles"
        " where rolname in (%s, %s) order by 1",
        (OWNER, READER),
    )
    assert roles == [(OWNER, False, False, False), (READER, False, False, False)]


def test_read_only_refuses_a_superuser_login(warehouse):
    url, _ = warehouse  # the tests' server URL is the superuser's
    with pytest.raises(PermissionError, match="superuser"), read_only(url, 1000):
        pass
    with read_only(login_url(url, READER), 1000) as conn:
        assert conn.execute("select current_user").fetchone()[0] == READER
