"""The Prefect server a planner watches: where its state lives, whether it is up, started in the
background for `make demo`, and the CLI's flows sent to it while it runs.

Prefect's server needs the `pg_trgm` extension in Postgres. The system's PostgreSQL has it: the
state then lives in a `prefect` database beside the warehouse (one server to back up). The
embedded warehouse (pgserver's binaries) ships only plpgsql and vector, so there the state lives
in SQLite under the warehouse folder, Prefect's own default backend.

Nothing here imports Prefect: :func:`attach` must set ``PREFECT_API_URL`` before Prefect is first
imported, because Prefect reads its settings once, at import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from frycast.settings import Settings


@dataclass(frozen=True)
class ServerPlan:
    host: str
    port: int
    database: str  # SQLAlchemy URL Prefect's server connects to
    where: str  # said to the user: which database holds the runs

    @property
    def api(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui(self) -> str:
        return f"http://{self.host}:{self.port}"


def has_pg_trgm(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(
            conn.execute("select 1 from pg_available_extensions where name = 'pg_trgm'").fetchone()
        )


def plan(
    url: str,
    settings: Settings,
    database: str = "prefect",
    *,
    host: str | None = None,
    port: int | None = None,
) -> ServerPlan:
    """Where the server listens (by default ``settings.prefect_ui_url``, the address the Runs
    page links to) and which database keeps its state: ``database`` on the warehouse's server
    when that server offers pg_trgm, else SQLite in the warehouse folder."""
    from warehouse.db import asyncpg_url, sibling_database

    parts = urlsplit(settings.prefect_ui_url)
    host, port = host or parts.hostname or "127.0.0.1", port or parts.port or 4200
    if has_pg_trgm(url):
        db = asyncpg_url(sibling_database(url, database))
        return ServerPlan(host, port, db, f"Postgres database {db.rsplit('/', 1)[-1]!r}")
    path = sqlite_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ServerPlan(
        host,
        port,
        f"sqlite+aiosqlite:///{path}",
        f"{path} (this Postgres has no pg_trgm, which Prefect's server needs)",
    )


def sqlite_path(settings: Settings) -> Path:
    return settings.warehouse_dir.resolve() / "prefect.db"


def pid_path(settings: Settings) -> Path:
    return settings.warehouse_dir.resolve() / "prefect.pid"


def log_path(settings: Settings) -> Path:
    return settings.warehouse_dir.resolve() / "prefect.log"


def is_up(api: str, timeout: float = 2.0) -> bool:
    """The server answers its health check (``/api/health`` returns true)."""
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=timeout) as resp:
            return json.loads(resp.read()) is True
    except (OSError, ValueError):
        return False


def api_url(settings: Settings) -> str:
    return settings.prefect_ui_url.rstrip("/") + "/api"


def attach(settings: Settings) -> str | None:
    """Send this process's flow runs to the Prefect server at ``settings.prefect_ui_url`` when
    one runs there and ``PREFECT_API_URL`` is unset (otherwise each run starts a temporary
    server, and the runs vanish with it). Returns the API URL used, if any."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect" in sys.modules:  # too late: Prefect has read its settings
        return None
    api = api_url(settings)
    if not is_up(api):
        return None
    os.environ["PREFECT_API_URL"] = api
    return api


def server_env(p: ServerPlan) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_DATABASE_CONNECTION_URL": p.database,
        # the UI asks the API at PREFECT_UI_API_URL, by default PREFECT_API_URL or the
        # PREFECT_SERVER_API_HOST/PORT settings (127.0.0.1:4200), not `server start --port`
        # (prefect/settings/models/root.py): on another port it would call an API not there
        "PREFECT_SERVER_API_HOST": p.host,
        "PREFECT_SERVER_API_PORT": str(p.port),
        "PREFECT_UI_API_URL": p.api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def command(p: ServerPlan) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        p.host,
        "--port",
        str(p.port),
    ]


def start_background(p: ServerPlan, settings: Settings, timeout: float = 180.0) -> int:
    """Start the server detached (it outlives this command, like the embedded warehouse), wait
    until it answers, and return its pid. Its log is ``.warehouse/prefect.log``."""
    log = log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command(p),
            env=server_env(p),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `stop` takes uvicorn down with it
        )
    pid_path(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_up(p.api):
            return proc.pid
        if proc.poll() is not None:
            raise RuntimeError(
                f"the Prefect server exited with code {proc.returncode}; its log: {log}\n"
                + _tail(log)
            )
        time.sleep(1)
    stop(settings)
    raise RuntimeError(f"the Prefect server did not answer within {timeout:.0f} s; log: {log}")


def stop(settings: Settings) -> bool:
    """Stop the server `start_background` started; True when one was running."""
    path = pid_path(settings)
    if not path.exists():
        return False
    pid = int(path.read_text())
    path.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(40):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:]
