"""The embedded warehouse a new user gets when DATABASE_URL is unset (pgserver binaries)."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from warehouse.db import apply_infra
from warehouse.embedded import EmbeddedWarehouse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_embedded_warehouse_starts_serves_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-embedded-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-embedded-secret")
    wh = EmbeddedWarehouse(tmp_path / "wh", _free_port(), "frycast")
    try:
        url = wh.up()
        # the server runs with a minimal environment: none of the user's secrets
        pid = (wh.pgdata / "postmaster.pid").read_text().split()[0]
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"PATH=" in environ
        assert b"embedded-secret" not in environ
        assert wh.is_running()
        assert url == f"postgresql://postgres@127.0.0.1:{wh.port}/frycast"
        assert wh.up() == url  # reuse, not a second server
        apply_infra(url)
        with psycopg.connect(url) as conn:
            version = conn.execute("show server_version_num").fetchone()[0]
            schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
        assert int(version) >= 150000
        assert {"raw", "staging", "intermediate", "features", "marts", "forecast"} <= schemas
    finally:
        assert wh.down() is True
    assert not wh.is_running()
    assert wh.down() is False


def test_a_port_taken_by_another_server_is_named_not_a_log_to_dig_in(tmp_path):
    # GIVEN something (say, another checkout's warehouse) already listening on the port
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        wh = EmbeddedWarehouse(tmp_path / "wh", other.getsockname()[1], "frycast")
        # WHEN the embedded warehouse starts THEN the error says what to do
        with pytest.raises(RuntimeError, match="FRYCAST_EMBEDDED_PORT"):
            wh.up()
    assert not wh.is_running()
