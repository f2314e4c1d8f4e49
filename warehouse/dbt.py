"""Run dbt (in-process, one invocation at a time) against the configured warehouse."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace

import psycopg

from frycast.settings import Settings, get_settings, kept_environ
from warehouse.db import dbt_env

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DbtResult:
    success: bool
    passed: int
    failed: int
    failures: list[str]
    # every dbt test that ran: (name, relation it tests, status, failing rows, message)
    tests: list[tuple[str, str | None, str, int | None, str]] = field(default_factory=list)
    through_batch_id: int | None = None  # the build's high-water mark (build and run only)
    attempts: int = 1  # invocations: more than one when a lock timeout made it retry


BUILDS = {"build", "run"}  # the commands that take in batches


def high_water_mark(url: str) -> int:
    """The newest loaded batch now: what a build starting now takes in, and no more."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select coalesce(max(batch_id), 0) from raw.load_batches where status = 'loaded'"
        ).fetchone()[0]


def run_dbt(args: list[str], url: str, settings: Settings | None = None) -> DbtResult:
    """``dbt <args>`` with the profile pointed at ``url``; returns what passed and what failed.

    A build or run is bounded by one high-water mark fixed at its start (``through_batch_id``),
    so every incremental model takes in, and records, the same batches. Its sessions wait at
    most ``dbt_lock_timeout_ms`` for a lock; a run that failed on a lock timeout is retried
    (the same arguments, so the same mark) up to ``dbt_lock_retries`` times."""
    s = settings or get_settings()
    through = None
    if args and args[0] in BUILDS and "--vars" not in args:
        through = high_water_mark(url)
        args = [*args, "--vars", json.dumps({"through_batch_id": through})]
    options = f"{os.environ.get('PGOPTIONS', '')} -c lock_timeout={s.dbt_lock_timeout_ms}"
    env = {
        **dbt_env(url),
        "PGOPTIONS": options.strip(),  # libpq reads it for every session dbt opens
        "FRYCAST_DBT_THREADS": str(s.dbt_threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    for attempt in range(1, s.dbt_lock_retries + 2):
        result = _invoke(args, env, s)
        timed_out = [f for f in result.failures if "lock timeout" in f]
        if result.success or not timed_out or attempt > s.dbt_lock_retries:
            break
        log.warning(
            "dbt %s: %s; retry %d of %d", args[0], timed_out[0][:300], attempt, s.dbt_lock_retries
        )
        time.sleep(s.dbt_lock_retry_delay_s * attempt)
    return replace(result, through_batch_id=through, attempts=attempt)


def _invoke(args: list[str], env: dict[str, str], s: Settings) -> DbtResult:
    from dbt.cli.main import dbtRunner  # heavy import: only when dbt actually runs

    with kept_environ(env, env):  # the profile reads FRYCAST_PG*; one invocation at a time
        project = str(s.dbt_project_dir)
        res = dbtRunner().invoke([*args, "--project-dir", project, "--profiles-dir", project])
    passed, failures, tests = 0, [], []
    results = getattr(res.result, "results", None) or []
    for r in results:
        status = str(getattr(r, "status", "")).lower()
        node = r.node
        if getattr(node, "resource_type", None) is not None and str(node.resource_type).endswith(
            "test"
        ):
            refs = getattr(node, "refs", None) or []
            sources = getattr(node, "sources", None) or []
            target = refs[0].name if refs else ".".join(sources[0]) if sources else None
            tests.append(
                (node.name, target, status, getattr(r, "failures", None), (r.message or "")[:300])
            )
        if status in {"success", "pass"}:
            passed += 1
        elif status in {"error", "fail", "runtime error"}:
            failures.append(f"{r.node.unique_id}: {status}: {(r.message or '').strip()[:300]}")
    if res.exception is not None:
        failures.append(f"dbt raised: {res.exception}")
    return DbtResult(res.success and not failures, passed, len(failures), failures, tests)
