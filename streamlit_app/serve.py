"""Start the dashboard in a subprocess against a warehouse and wait until it answers: for the
browser test and `make bench-ui`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(url: str, log: Path | None = None) -> Iterator[int]:
    """The app on a free port, reading ``url``'s warehouse as the reader login and saving
    overrides as the insert-only planner login (the only logins it is given); yields the port
    and stops the app afterwards."""
    from warehouse.db import planner_url, reader_url

    port = free_port()
    out = log.open("w") if log else subprocess.DEVNULL
    app = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
             "FRYCAST_READER_URL": reader_url(url),
             "FRYCAST_PLANNER_URL": planner_url(url)},
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.25)
        yield port
    finally:
        app.terminate()
        app.wait(10)
