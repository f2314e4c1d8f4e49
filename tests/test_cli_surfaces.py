"""`frycast ui` and `frycast docs` start on the reader login alone: no DDL, no privileged login
or secret handed to the process they start."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import main as cli
from frycast.settings import get_settings
from tests.conftest import query
from warehouse.db import READER


@pytest.fixture
def env(blank_warehouse, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", blank_warehouse)
    monkeypatch.delenv("FRYCAST_READER_URL", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret")

    def no_ddl(*args, **kwargs):
        raise AssertionError("a reading surface ran the infra DDL")

    monkeypatch.setattr("warehouse.db.apply_infra", no_ddl)
    monkeypatch.setattr(cli, "apply_infra", no_ddl)
    get_settings.cache_clear()
    yield blank_warehouse
    get_settings.cache_clear()


def test_frycast_ui_hands_the_dashboard_the_reader_login_only(env, monkeypatch):
    started = {}

    def fake_run(cmd, env=None, check=False, **kwargs):
        started.update(cmd=cmd, env=env)

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    before = query(env, "select count(*) from pg_tables")
    result = CliRunner().invoke(cli.app, ["ui", "--port", "8599"])
    assert result.exit_code == 0, result.output
    assert "streamlit" in started["cmd"]
    child = started["env"]
    assert child["FRYCAST_READER_URL"].startswith(f"postgresql://{READER}@")
    for secret in ("DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "ANTHROPIC_API_KEY"):
        assert secret not in child
    assert query(env, "select count(*) from pg_tables") == before


def test_frycast_docs_generates_as_the_reader(env, monkeypatch):
    seen = {}

    def fake_dbt(args, url, settings=None):
        seen.update(args=args, url=url)
        raise SystemExit(0)  # stop before serving

    monkeypatch.setattr("warehouse.dbt.run_dbt", fake_dbt)
    CliRunner().invoke(cli.app, ["docs", "--no-serve"])
    assert seen["args"] == ["docs", "generate", "--no-compile"]
    assert seen["url"].startswith(f"postgresql://{READER}@")


def test_frycast_run_passes_no_login_to_prefect(env, monkeypatch):
    """Flow-run parameters show in the Prefect UI: the flow logs in itself, so no URL (and no
    password) is one of them."""
    called = {}

    def fake_flow(**kwargs):
        called.update(kwargs)
        return {
            "run_id": 1,
            "published": True,
            "data_quality": "proceed",
            "metrics": "publish",
            "snapshot": None,
            "snapshot_error": None,
        }

    monkeypatch.setattr("flows.pipeline.forecast_pipeline", fake_flow)
    result = CliRunner().invoke(cli.app, ["run", "--horizon", "28"])
    assert result.exit_code == 0, result.output
    assert "url" not in called and called["horizon"] == 28
