"""Where every benchmark leaves its numbers: bench_results/<name>.json (git-ignored)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from frycast.settings import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench_results"


def write_results(name: str, payload, out_dir: Path = RESULTS_DIR) -> Path:
    out_dir.mkdir(exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def fresh_database(server_url: str, name: str, *, infra: bool = True) -> str:
    """A new, empty database ``name`` on the server of ``server_url`` (dropped first if it
    exists), with frycast's roles, schemas and raw tables unless ``infra`` is False (the
    pipeline benchmark times that step itself); returns its URL."""
    from warehouse.db import apply_infra

    parts = urlsplit(server_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    url = urlunsplit(parts._replace(path="/" + name))
    if infra:
        apply_infra(url)
    return url
