"""Prefect server mode: `frycast prefect-server` keeps Prefect's state in the warehouse's Postgres,
and the deployments `frycast serve` registers show there with their schedules."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.conftest import _with_db

ROOT = Path(__file__).resolve().parents[2]


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


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_a_newcomer_on_the_embedded_warehouse_gets_a_prefect_ui_with_their_runs(tmp_path):
    """The embedded warehouse has no pg_trgm, which Prefect's server needs: `frycast
    prefect-server --background` (what `make demo` runs) keeps the state in SQLite under the
    warehouse folder, a flow run by the CLI lands there, and the UI shows it in Chromium."""
    from playwright.sync_api import sync_playwright

    from warehouse.embedded import EmbeddedWarehouse

    wh = EmbeddedWarehouse(tmp_path / "wh", _free_port(), "frycast")
    ui = f"http://127.0.0.1:{_free_port()}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PREFECT_API_URL") and not k.startswith("PREFECT_SERVER_")
    }
    env.update(
        FRYCAST_WAREHOUSE_DIR=str(wh.root),
        FRYCAST_EMBEDDED_PORT=str(wh.port),
        FRYCAST_PREFECT_UI_URL=ui,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        DO_NOT_TRACK="1",
    )
    frycast = [sys.executable, "-m", "cli.main"]
    try:
        wh.up()
        with psycopg.connect(wh.url) as conn:  # GIVEN a server without pg_trgm
            assert not conn.execute(
                "select 1 from pg_available_extensions where name = 'pg_trgm'"
            ).fetchone()
        # WHEN the newcomer's demo starts the Prefect UI in the background
        started = subprocess.run(
            [*frycast, "prefect-server", "--background"],
            env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"{wh.root.resolve()}/prefect.db" in started.stdout
        assert "no pg_trgm" in started.stdout
        assert _get(f"{ui}/api/health") is True
        # a second start finds it running instead of failing on the port
        again = subprocess.run(
            [*frycast, "prefect-server", "--background"], env=env, capture_output=True, text=True
        )
        assert again.returncode == 0 and "already running" in again.stdout
        # AND a flow runs from a frycast command: it goes to that server, not a temporary one
        # (reporting progress as the pipeline's forecast does: a stage, fits counted)
        code = (
            "import cli.main as m\n"
            "m._send_runs_to_prefect_server()\n"
            "from prefect import flow\n"
            "from flows.pipeline import _progress_to_prefect\n"
            "from frycast import progress\n"
            "from frycast.stages import stage\n"
            "@flow(name='newcomer-check')\n"
            "def check():\n"
            "    with progress.listening(_progress_to_prefect(7)), stage('backtest'):\n"
            "        fit = progress.Counted(lambda x: x, 2, 'backtest', lambda x: 'model %d' % x)\n"
            "        [fit(i) for i in range(2)]\n"
            "check()\n"
        )
        ran = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert f"Prefect: runs go to {ui}" in ran.stderr
        runs = _get(f"{ui}/api/flow_runs/filter", {})
        assert [r["state_type"] for r in runs] == ["COMPLETED"]
        flow = _get(f"{ui}/api/flows/{runs[0]['flow_id']}")
        assert flow["name"] == "newcomer-check"
        bars = _get(
            f"{ui}/api/artifacts/filter", {"artifacts": {"key": {"any_": ["forecast-progress"]}}}
        )
        assert [(b["type"], b["data"], b["flow_run_id"]) for b in bars] == [
            ("progress", 100.0, runs[0]["id"])
        ]
        assert bars[0]["description"] == "run 7: backtest done in 0 s"
        # THEN the UI shows the run, in a real browser
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui}/runs/flow-run/{runs[0]['id']}")
            page.get_by_text("newcomer-check").first.wait_for(timeout=60_000)
            page.get_by_text("Completed").first.wait_for(timeout=60_000)
            # its log tells the progress, as the terminal did
            page.get_by_text("backtest: 2/2 fits done (model 1)").wait_for(timeout=60_000)
            shots = ROOT / "screenshots"
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / "prefect_flow_run.png"), full_page=True)
            browser.close()
    finally:
        stopped = subprocess.run(
            [*frycast, "prefect-server", "--stop"], env=env, capture_output=True, text=True
        )
        wh.down()
    assert stopped.stdout.strip() == "stopped"
    with pytest.raises(OSError):
        _get(f"{ui}/api/health")
