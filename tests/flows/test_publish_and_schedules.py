"""Serialised pipelines, abandoned runs, and the deployments `frycast serve` registers."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import query
from warehouse.forecast_store import (
    PIPELINE_LOCK,
    LockLost,
    fail_abandoned_runs,
    open_run,
    pipeline_lock,
    publish_run,
)


def test_a_second_pipeline_waits_for_the_first(blank_warehouse):
    inside, release = threading.Event(), threading.Event()

    def first():
        with pipeline_lock(blank_warehouse):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    with (
        pytest.raises(RuntimeError, match="another forecasting pipeline is running"),
        pipeline_lock(blank_warehouse, wait=False),
    ):
        pass
    release.set()
    t.join()
    with pipeline_lock(blank_warehouse, wait=False):  # free again
        pass


def test_the_lock_knows_when_its_session_was_lost(blank_warehouse):
    with pipeline_lock(blank_warehouse) as lock:
        lock.check()  # held
        query(
            blank_warehouse,
            "select pg_terminate_backend(pid) from pg_locks"
            " where locktype = 'advisory' and objid = %s"
            " and database = (select oid from pg_database where datname = current_database())",
            (PIPELINE_LOCK,),
        )
        with pytest.raises(LockLost):
            lock.check()
    with pipeline_lock(blank_warehouse, wait=False):  # and it is free for the next run
        pass


def test_a_killed_run_is_marked_failed_and_cannot_be_published(blank_warehouse):
    run_id = open_run(blank_warehouse, 365, {})  # its process died before finishing
    with pipeline_lock(blank_warehouse) as lock:  # found by the next pipeline
        assert fail_abandoned_runs(blank_warehouse, holder_pid=lock.pid) == [run_id]
    status, message = query(
        blank_warehouse,
        "select status, message from forecast.forecast_runs where run_id = %s",
        (run_id,),
    )[0]
    assert status == "failed" and "abandoned" in message
    with pytest.raises(RuntimeError, match="cannot be published"):
        publish_run(blank_warehouse, run_id)


def test_serve_registers_a_weekly_pipeline_and_a_nightly_drift_check():
    from flows.drift import drift_check
    from flows.pipeline import forecast_pipeline
    from frycast.settings import Settings

    s = Settings()
    weekly = forecast_pipeline.to_deployment(name="weekly", cron=s.pipeline_cron)
    nightly = drift_check.to_deployment(name="nightly", cron=s.drift_cron)
    assert weekly.schedules[0].schedule.cron == "0 3 * * 1"
    assert nightly.schedules[0].schedule.cron == "0 6 * * *"
    assert weekly.flow_name == "forecast_pipeline" and nightly.flow_name == "drift_check"
