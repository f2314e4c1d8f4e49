"""Run states that are the truth: a run whose process is killed (SIGKILL, a real process) at any
stage reads as failed at once (forecast.run_states), is recorded failed by the next sweep, can
never be published, and the served run stays as it was."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import insert_chain_row, query, scalar
from warehouse.forecast_store import (
    LockLost,
    RunStateError,
    check_alive,
    fail_abandoned_runs,
    finish_run,
    open_run,
    pipeline_lock,
    publish_run,
    published_run,
    run_lease,
)

ROOT = Path(__file__).resolve().parents[2]

# A process that takes a run to `stage` and then waits to be killed; it prints the run id when
# it is there. stages: running, written (succeeded, not yet published), publishing (inside the
# publish step), lease (a `frycast forecast` run, outside the pipeline lock).
RUNNER = """
import sys, time
from warehouse import forecast_store as fs

url, stage = sys.argv[1], sys.argv[2]

def there(run_id, *_):
    print(run_id, flush=True)
    time.sleep(600)

if stage == "lease":
    with fs.run_lease(url, 28, {}) as run_id:
        there(run_id)
with fs.pipeline_lock(url) as lock:
    run_id = fs.open_run(url, 28, {"pipeline": "forecast_pipeline"}, backend_pid=lock.pid)
    if stage in ("written", "publishing"):
        import psycopg
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into forecast.forecast_values (run_id, level, node_key, forecast_date,"
                " yhat, model) values (%s, 'chain', 'chain', '2026-01-01', 99, 'snaive')",
                (run_id,),
            )
        fs.finish_run(url, run_id, status="succeeded")
    if stage == "publishing":
        fs.complete_publish = lambda url, run_id: there(run_id)  # killed between the two steps
        fs.publish_run(url, run_id)
    there(run_id)
"""
RECORDED = {"running": "running", "written": "succeeded", "publishing": "publishing"}


def _served(url: str) -> tuple[int, str]:
    """The published run and a checksum of what it serves."""
    run_id = published_run(url)
    digest = scalar(
        url,
        "select md5(string_agg(node_key || forecast_date || yhat, ',' order by node_key,"
        " forecast_date)) from forecast.forecast_values where run_id = %s",
        (run_id,),
    )
    return run_id, digest


def _publish_one(url: str) -> None:
    run_id = open_run(url, 28, {})
    insert_chain_row(url, run_id)
    finish_run(url, run_id, status="succeeded")
    publish_run(url, run_id)


def _state(url: str, run_id: int) -> tuple:
    return query(
        url,
        "select s.status, s.alive, s.state, r.published from forecast.run_states s"
        " join forecast.forecast_runs r using (run_id) where run_id = %s",
        (run_id,),
    )[0]


@pytest.mark.parametrize("stage", ["running", "written", "publishing", "lease"])
def test_a_run_killed_at_any_stage_is_failed_and_never_served(blank_warehouse, stage):
    url = blank_warehouse
    _publish_one(url)
    served = _served(url)
    # GIVEN a process holding a run at `stage`
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, url, stage], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = int(proc.stdout.readline())
        recorded = RECORDED.get(stage, "running")
        # THEN while it lives it is alive, and no sweep touches it
        assert _state(url, run_id) == (recorded, True, recorded, False)
        assert fail_abandoned_runs(url) == []
        if stage == "lease":  # nor the next pipeline's: it is not the pipeline lock's run
            with pipeline_lock(url, wait=False) as lock:
                assert fail_abandoned_runs(url, holder_pid=lock.pid) == []
        # WHEN the process is killed
        proc.kill()
        proc.wait(10)
    finally:
        proc.kill()
    deadline = time.monotonic() + 10
    while _state(url, run_id)[1] and time.monotonic() < deadline:
        time.sleep(0.1)  # the server ends the dead client's session
    # THEN readers see it failed at once, before any sweep wrote it
    assert _state(url, run_id) == (recorded, False, "failed", False)
    if stage == "written":  # its session is gone: it cannot be published
        with pytest.raises(LockLost):
            publish_run(url, run_id)
    # AND the sweep records it failed, once, with why
    assert fail_abandoned_runs(url) == [run_id]
    assert fail_abandoned_runs(url) == []
    status, published, message = query(
        url,
        "select status, published, message from forecast.forecast_runs where run_id = %s",
        (run_id,),
    )[0]
    assert (status, published) == ("failed", False)
    assert "abandoned" in message and ("while publishing" in message) == (stage == "publishing")
    with pytest.raises(RuntimeError, match="cannot be published"):
        publish_run(url, run_id)
    # AND the served run and what it serves did not change
    assert _served(url) == served


def test_a_run_whose_lock_session_is_lost_writes_and_succeeds_nothing(blank_warehouse):
    url = blank_warehouse
    with run_lease(url, 28, {}) as run_id:
        check_alive(url, run_id)  # held
        # WHEN its session is terminated while the process goes on
        query(
            url,
            "select pg_terminate_backend(backend_pid) from forecast.forecast_runs"
            " where run_id = %s",
            (run_id,),
        )
        # THEN it may not write, a sweep fails it, and it cannot succeed after that
        with pytest.raises(LockLost):
            check_alive(url, run_id)
        assert fail_abandoned_runs(url) == [run_id]
        with pytest.raises(RunStateError, match="status failed"):
            finish_run(url, run_id, status="succeeded")
    assert _state(url, run_id) == ("failed", False, "failed", False)


def test_the_next_pipeline_fails_runs_without_a_session(blank_warehouse):
    # GIVEN a run from before runs recorded their session, and one recorded under the pid the
    # next pipeline's lock session happens to get (the pid of a dead backend, reused)
    url = blank_warehouse
    legacy = open_run(url, 365, {})
    with pipeline_lock(url) as lock:
        reused = open_run(url, 365, {}, backend_pid=lock.pid)
        # THEN a reader's sweep cannot tell (unknown, or apparently alive) and leaves them
        assert fail_abandoned_runs(url) == []
        # AND the pipeline holding the lock knows neither can be alive
        assert fail_abandoned_runs(url, holder_pid=lock.pid) == sorted([legacy, reused])
    assert query(
        url, "select status from forecast.forecast_runs where run_id in (%s, %s)", (legacy, reused)
    ) == [("failed",), ("failed",)]
