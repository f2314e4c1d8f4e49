"""Prefect server mode: `frycast prefect-server` keeps Prefect's state in the warehouse's Postgres,
and the deployments `frycast serve` registers show there with their schedules."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from tests.conftest import _with_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _process(args: list[str], env: dict[str, str], log):
    # a process group, so Prefect's uvicorn child goes down with it
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _get(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(check, seconds: float, what: str, log_path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{what} within {seconds:.0f}s; log:\n{log_path.read_text()[-3000:]}")


def test_deployments_served_to_a_prefect_server_backed_by_the_warehouse(
    blank_warehouse, server_url, tmp_path
):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    prefect_db = f"prefect_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": blank_warehouse,
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    frycast = [sys.executable, "-m", "cli.main"]
    log_path = tmp_path / "prefect.log"
    try:
        with open(log_path, "w") as log:
            server_cmd = [*frycast, "prefect-server", "--port", str(port), "--database", prefect_db]
            with _process(server_cmd, env, log):
                _wait(lambda: _get(f"{api}/health"), 90, "the Prefect server came up", log_path)
                with _process([*frycast, "serve"], env, log):
                    deployments = _wait(
                        lambda: len(found := _get(f"{api}/deployments/filter", {})) == 3 and found,
                        90,
                        "three deployments were registered",
                        log_path,
                    )
                    schedules = {
                        d["name"]: [
                            s["schedule"].get("cron") or s["schedule"].get("interval")
                            for s in d["schedules"]
                        ]
                        for d in deployments
                    }
                    assert schedules == {
                        "weekly": ["0 3 * * 1"],
                        "nightly": ["0 6 * * *"],
                        "on-change": [300.0],  # planners' overrides, every 5 minutes
                    }
                    flows = {f["id"]: f["name"] for f in _get(f"{api}/flows/filter", {})}
                    assert {flows[d["flow_id"]] for d in deployments} == {
                        "forecast_pipeline",
                        "drift_check",
                        "apply_overrides",
                    }
        # the server's state is in Postgres, next to the warehouse, not in a SQLite file
        with psycopg.connect(_with_db(server_url, prefect_db)) as conn:
            stored = conn.execute("select name from deployment order by name").fetchall()
        assert stored == [("nightly",), ("on-change",), ("weekly",)]
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{prefect_db}" with (force)')


def test_the_cli_gives_the_temporary_server_two_minutes_to_start():
    """Prefect reads its settings when first imported: the 120 s startup default has to be in
    place by then (set in pipeline.py after Prefect's import, it never applied and a chain-tier
    bench failed after Prefect's own 20 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_EPHEMERAL")}
    code = (
        "import cli.main, flows.pipeline\n"
        "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as s\n"
        "print(s.value())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "120"
