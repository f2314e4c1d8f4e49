"""The embedded warehouse: a PostgreSQL server from the `pgserver` wheel, data under `.warehouse/`.

pgserver ships the Postgres binaries; we run them ourselves so the server listens on a TCP port on
127.0.0.1 (dbt, MLflow and Prefect all want host/port URLs) and outlives the command that started
it (`frycast warehouse up` … `down`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR; it does not matter
    warnings.simplefilter("ignore")
    from pgserver._commands import POSTGRES_BIN_PATH

_RUN_AS = "pgserver"  # Postgres refuses to run as root; pgserver's convention for that case


@dataclass(frozen=True)
class EmbeddedWarehouse:
    """Paths and address of one embedded server."""

    root: Path
    port: int
    database: str = "frycast"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def is_running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        return _run(["pg_ctl", "-D", str(self.pgdata), "status"], self, check=False).returncode == 0

    def up(self) -> str:
        """Initialise (first time), start (if stopped) and create the database; return its URL."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(parents=True, exist_ok=True)
            _prepare_ownership(self)
            _run(
                [
                    "initdb",
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                self,
            )
        if not self.is_running():
            if _port_in_use(self.port):
                raise RuntimeError(
                    f"embedded Postgres: port {self.port} on 127.0.0.1 is taken by another server "
                    "(another checkout's embedded warehouse, or a system PostgreSQL). Stop it, set "
                    "FRYCAST_EMBEDDED_PORT to a free port, or set DATABASE_URL to use that server."
                )
            _prepare_ownership(self)
            options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
            _run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.logfile),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                self,
            )
        self._ensure_database()
        return self.url

    def down(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        if not self.is_running():
            return False
        _run(["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], self)
        return True

    def _ensure_database(self) -> None:
        psql = [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        for _ in range(30):  # the server may still be finishing recovery right after start
            found = _run(
                [*psql, f"select 1 from pg_database where datname = '{self.database}'"],
                self,
                check=False,
            )
            if found.returncode == 0:
                break
            time.sleep(0.5)
        if found.stdout.strip() != "1":
            _run([*psql, f'create database "{self.database}"'], self)


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _prepare_ownership(wh: EmbeddedWarehouse) -> None:
    """When running as root, hand the data directory to an unprivileged user (as pgserver does)."""
    if not _as_root():
        return
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_RUN_AS)
    ensure_prefix_permissions(wh.root)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    entry = pwd.getpwnam(_RUN_AS)
    for path in (wh.root, wh.pgdata):
        shutil.chown(path, entry.pw_uid, entry.pw_gid)
    wh.logfile.touch(exist_ok=True)
    shutil.chown(wh.logfile, entry.pw_uid, entry.pw_gid)


# The server inherits only these: never the user's API keys, S3 secrets or database URLs.
_SERVER_ENV = ("PATH", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TMPDIR")


def _run(args: list[str], wh: EmbeddedWarehouse, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(POSTGRES_BIN_PATH / args[0]), *args[1:]]
    result = subprocess.run(
        cmd,
        env={k: v for k, v in os.environ.items() if k in _SERVER_ENV},
        capture_output=True,
        text=True,
        user=_RUN_AS if _as_root() else None,
        cwd="/",
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"embedded Postgres: `{' '.join(args[:2])}` failed ({result.returncode}):\n"
            f"{result.stderr.strip() or result.stdout.strip()}\nlog: {wh.logfile}"
        )
    return result
