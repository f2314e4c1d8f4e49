"""The forecast_pipeline flow end to end, on a small seeded chain in real Postgres, under
Prefect's test harness: published marts, failures that leave the served run alone, the
data-quality halt, idempotent re-runs, and drift detection."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from uuid import UUID

import numpy as np
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from prefect.testing.utilities import prefect_test_harness

from flows import pipeline
from flows.drift import drift_check
from flows.pipeline import GateHalted, forecast_pipeline
from ingest.daily import import_daily
from ingest.seed import seed
from tests.conftest import _clone, _drop, _with_db, query, scalar
from tests.ml.conftest import TINY
from warehouse import forecast_store
from warehouse.db import OWNER, login_url
from warehouse.dbt import run_dbt
from warehouse.forecast_store import PIPELINE_LOCK, LockLost, fail_abandoned_runs, published_run

CHEAP = {"folds": 3, "fold_horizon": 28, "models": ["snaive", "weekday_mean", "lightgbm"]}


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def warehouse(server_url, template_db, tmp_path_factory, monkeypatch_module):
    name = _clone(server_url, template_db, "frycast_pipe")
    url = _with_db(server_url, name)
    seed(url, TINY)
    monkeypatch_module.setenv(
        "FRYCAST_MLFLOW_ARTIFACTS", tmp_path_factory.mktemp("mlartifacts").as_uri()
    )
    monkeypatch_module.setenv("FRYCAST_SNAPSHOT_DIR", str(tmp_path_factory.mktemp("snapshots")))
    from frycast.settings import get_settings

    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    _drop(server_url, name)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def first(warehouse):
    # the pipeline runs as its own login, frycast_owner, which is not a superuser
    return forecast_pipeline(url=login_url(warehouse, OWNER), **CHEAP)


def _champion(url: str) -> str | None:
    """The model version MLflow's champion alias names."""
    rows = query(
        url,
        "select version::text from mlflow.registered_model_aliases"
        " where name = 'frycast-global-model' and alias = 'champion'",
    )
    return rows[0][0] if rows else None


def _served(url: str) -> tuple[int, str]:
    """The served run and a checksum of every row readers get from marts.fct_forecast."""
    digest = scalar(
        url,
        "select md5(string_agg(concat_ws('|', run_id, level, node_key, forecast_date, yhat,"
        " yhat_lo80, yhat_hi80), ',' order by level, node_key, forecast_date))"
        " from marts.fct_forecast",
    )
    return published_run(url), digest


def _last_run(url: str) -> tuple:
    return query(
        url,
        "select r.run_id, r.status, r.published, r.model_version, s.state, r.message"
        " from forecast.forecast_runs r join forecast.run_states s using (run_id)"
        " order by run_id desc limit 1",
    )[0]


def test_the_pipeline_publishes_complete_coherent_marts(warehouse, first):
    assert first["published"] and first["data_quality"] == "proceed"
    assert first["metrics"] == "publish"
    # GIVEN a run made as frycast_owner THEN that login is no superuser and owns what it built
    assert query(warehouse, "select rolsuper, rolcreaterole from pg_roles where rolname = %s",
                 (OWNER,)) == [(False, False)]  # fmt: skip
    owners = query(
        warehouse,
        "select distinct tableowner from pg_tables where schemaname in ('marts', 'mlflow')",
    )
    assert owners == [(OWNER,)]
    assert published_run(warehouse) == first["run_id"]
    # the run names its Prefect flow run (the Runs page links to it): one the server knows
    pipeline = scalar(
        warehouse,
        "select pipeline from forecast.forecast_runs where run_id = %s",
        (first["run_id"],),
    )
    APILogHandler().flush()  # the run's logs reach the API in batches: send what is queued
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(pipeline)).name  # raises ObjectNotFound if unknown
        # its progress is in its log (the terminal shows the same) and in a progress artifact
        only_this = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(pipeline)]))
        logs, page = [], None
        while page is None or len(page) == 200:  # the API returns at most 200 a request
            page = client.read_logs(only_this, limit=200, offset=len(logs))
            logs += [log.message for log in page]
        # (the raw endpoint: this client's read_artifacts sends null filters the server refuses)
        bars = client.request(
            "POST",
            "/artifacts/filter",
            json={
                "artifacts": {
                    "key": {"any_": ["forecast-progress"]},
                    "flow_run_id": {"any_": [pipeline]},
                }
            },
        ).json()
    for said in ("backtest …", "train + forecast …", "reconcile done in", "write"):
        assert any(m.startswith(said) or said in m for m in logs), (said, logs)
    done = [m for m in logs if re.fullmatch(r"backtest: (\d+)/\1 fits done \(.+ series\)", m)]
    assert done, logs  # every fit of a backtest counted, the last one said
    assert [(b["type"], b["data"]) for b in bars] == [("progress", 100.0)]
    # succeeded and published; its registered model is now the champion
    run_id, status, published, version, state, _ = _last_run(warehouse)
    assert (run_id, status, published, state) == (first["run_id"], "succeeded", True, "succeeded")
    assert version and first["champion_version"] == version == _champion(warehouse)
    assert first["snapshot"].endswith(f"/run_id={first['run_id']}/forecast_values.parquet")
    n_series = scalar(warehouse, "select count(*) from features.feat_series where is_active")
    levels = dict(query(warehouse, "select level, count(*) from marts.fct_forecast group by level"))
    assert levels["restaurant_sku"] == n_series * 365
    assert levels["chain"] == 365
    assert scalar(warehouse, "select count(distinct run_id) from marts.fct_forecast") == 1
    gap = scalar(
        warehouse,
        """select max(abs(c.yhat - b.total) / greatest(b.total, 1))
             from marts.fct_forecast c
             join (select forecast_date, sum(yhat) as total from marts.fct_forecast
                    where level = 'restaurant_sku' group by forecast_date) b using (forecast_date)
            where c.level = 'chain'""",
    )
    assert gap < 1e-9
    assert scalar(warehouse, "select count(*) from marts.fct_forecast_accuracy") > 0
    # every node a global model serves is explained, month by month, and no other node is
    served = query(
        warehouse,
        "select level, node_key from forecast.model_selection where run_id = %s"
        " and model in ('lightgbm', 'xgboost') order by 1, 2",
        (first["run_id"],),
    )
    explained = query(
        warehouse, "select distinct level, node_key from marts.fct_forecast_drivers order by 1, 2"
    )
    assert served and explained == served
    months = query(
        warehouse,
        "select count(*) filter (where is_base), count(distinct driver) > 3,"
        " max(abs(model_units - total)) from marts.fct_forecast_drivers"
        " join (select level, node_key, month, sum(units) as total from marts.fct_forecast_drivers"
        " group by 1, 2, 3) t using (level, node_key, month)",
    )[0]
    assert months[0] >= 12 * len(served) and months[1] and months[2] < 1e-6
    reviews = dict(
        query(
            warehouse,
            "select agent, verdict from forecast.agent_reviews where run_id = %s",
            (first["run_id"],),
        )
    )
    # every role reviewed the run; offline here (no ANTHROPIC_API_KEY), and saying so
    assert reviews == {"data_quality": "proceed", "metrics": "publish", "features": "no_change"}
    offline = query(
        warehouse,
        "select bool_and(offline), bool_and(summary like 'Deterministic offline review%%')"
        " from forecast.agent_reviews where run_id = %s",
        (first["run_id"],),
    )[0]
    assert offline == (True, True)
    assert (
        scalar(
            warehouse,
            "select count(distinct agent) from forecast.agent_events where run_id = %s",
            (first["run_id"],),
        )
        == 3
    )
    assert (
        scalar(
            warehouse,
            "select count(*) from forecast.dq_results where run_id = %s and source = 'dbt'",
            (first["run_id"],),
        )
        > 20
    )


def test_a_rerun_with_the_same_inputs_changes_nothing(warehouse, first):
    before = query(
        warehouse,
        "select level, node_key, forecast_date, yhat, yhat_lo80, yhat_hi80"
        " from marts.fct_forecast order by 1, 2, 3",
    )
    again = forecast_pipeline(url=warehouse, **CHEAP)
    assert again["run_id"] != first["run_id"] and published_run(warehouse) == again["run_id"]
    after = query(
        warehouse,
        "select level, node_key, forecast_date, yhat, yhat_lo80, yhat_hi80"
        " from marts.fct_forecast order by 1, 2, 3",
    )
    assert after == before


def test_a_failure_mid_run_keeps_the_published_run_served(warehouse, first, monkeypatch):
    served, digest, champion = *_served(warehouse), _champion(warehouse)

    def broken(url, run_id):
        raise RuntimeError("injected: the database went away while publishing")

    monkeypatch.setattr(pipeline, "publish_run", broken)
    with pytest.raises(RuntimeError, match="injected"):
        forecast_pipeline(url=warehouse, **CHEAP)
    failed = query(
        warehouse,
        "select run_id, status, published, message from forecast.forecast_runs"
        " order by run_id desc limit 1",
    )[0]
    assert failed[1:3] == ("failed", False) and "injected" in failed[3]
    # its rows were written, but nobody reads them: the served run is unchanged
    assert _served(warehouse) == (served, digest)
    assert scalar(warehouse, "select max(run_id) from marts.fct_forecast") == served
    # its model was registered but is not the champion
    version = _last_run(warehouse)[3]
    assert version and version != champion and _champion(warehouse) == champion
    assert (
        scalar(
            warehouse,
            "select count(*) from marts.fct_forecast_accuracy where run_id = %s",
            (failed[0],),
        )
        == 0
    )


def test_a_run_that_lost_its_lock_does_not_publish(warehouse, first, monkeypatch):
    # GIVEN the lock's session is terminated while the run is being reviewed
    served, digest, champion = *_served(warehouse), _champion(warehouse)
    review = pipeline.metric_review.fn

    def review_then_lose_the_lock(url, run_id):
        query(
            warehouse,
            "select pg_terminate_backend(pid) from pg_locks"
            " where locktype = 'advisory' and objid = %s"
            " and database = (select oid from pg_database where datname = current_database())",
            (PIPELINE_LOCK,),
        )
        return review(url, run_id)

    monkeypatch.setattr(pipeline.metric_review, "fn", review_then_lose_the_lock)
    # WHEN the run reaches publish THEN it stops there, failed, and the served run stays
    with pytest.raises(LockLost):
        forecast_pipeline(url=warehouse, **CHEAP)
    status, published = query(
        warehouse,
        "select status, published from forecast.forecast_runs order by run_id desc limit 1",
    )[0]
    assert (status, published) == ("failed", False)
    assert _served(warehouse) == (served, digest) and _champion(warehouse) == champion


class Killed(RuntimeError):
    """The process dies here."""


@pytest.mark.parametrize("where", ["metric review", "publish"])
def test_a_run_killed_before_it_is_served_reads_failed_and_changes_nothing(
    warehouse, first, monkeypatch, where
):
    served, digest, champion = *_served(warehouse), _champion(warehouse)

    def die(*args, **kwargs):
        raise Killed(where)

    # GIVEN the process dies after writing (in the metric review), or inside the publish step
    # (status publishing, the flag not yet flipped): it records nothing more, and its lock's
    # session ends with it
    if where == "metric review":
        monkeypatch.setattr(pipeline.metric_review, "fn", die)
    else:
        monkeypatch.setattr(forecast_store, "complete_publish", die)
    monkeypatch.setattr(pipeline, "finish_run", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "_artifact", lambda *a, **k: None)
    with pytest.raises(Killed):
        forecast_pipeline(url=warehouse, **CHEAP)
    # THEN the table holds what the dead process last wrote, and readers see it failed at once
    run_id, status, published, version, state, _ = _last_run(warehouse)
    assert (status, published) == ("succeeded" if where == "metric review" else "publishing", False)
    assert state == "failed"
    # AND nothing of it is served, and the champion did not move to its model
    assert _served(warehouse) == (served, digest)
    assert version and version != champion and _champion(warehouse) == champion
    # WHEN a sweep runs (any pipeline's start, or a reader's tool as the owner)
    assert fail_abandoned_runs(warehouse) == [run_id]
    # THEN it is recorded failed, cannot be published, and no mart counts it
    _, status, published, _, state, message = _last_run(warehouse)
    assert (status, published, state) == ("failed", False, "failed") and "abandoned" in message
    with pytest.raises(RuntimeError, match="cannot be published"):
        forecast_store.publish_run(warehouse, run_id)
    assert (
        scalar(
            warehouse,
            "select count(*) from marts.fct_forecast_accuracy where run_id = %s",
            (run_id,),
        )
        == 0
    )
    assert _served(warehouse) == (served, digest) and _champion(warehouse) == champion


def _halted_run(warehouse) -> tuple[int, str]:
    """Run the pipeline, expect the data-quality gate to halt it before training."""
    with pytest.raises(GateHalted, match="data-quality gate") as halted:
        forecast_pipeline(url=warehouse, **CHEAP)
    run_id, status, message = query(
        warehouse,
        "select run_id, status, message from forecast.forecast_runs order by run_id desc limit 1",
    )[0]
    assert status == "failed" and halted.value.run_id == run_id  # the bench reports it
    # halted before training: the run wrote no forecasts
    assert (
        scalar(
            warehouse, "select count(*) from forecast.forecast_values where run_id = %s", (run_id,)
        )
        == 0
    )
    verdict = query(
        warehouse,
        "select verdict, summary from forecast.agent_reviews"
        " where run_id = %s and agent = 'data_quality'",
        (run_id,),
    )[0]
    assert verdict[0] == "halt" and "critical" in verdict[1]
    return run_id, message


def test_a_critical_data_quality_failure_halts_before_training(warehouse, first):
    """A new batch with a negative quantity (a file that went around the loader's checks)."""
    served = published_run(warehouse)
    with query_conn(warehouse) as conn:
        batch = conn.execute(
            "insert into raw.load_batches (source, status, rows_read, rows_loaded)"
            " values ('daily_csv', 'loaded', 1, 1) returning batch_id"
        ).fetchone()[0]
        conn.execute(
            "insert into raw.daily_sales (restaurant_id, sku_id, sale_date, units, batch_id)"
            " select restaurant_id, sku_id, max(sale_date) + 1, -5, %s"
            " from raw.daily_sales group by restaurant_id, sku_id limit 1",
            (batch,),
        )
    try:
        run_id, message = _halted_run(warehouse)
        assert "units" in message
        checked = query(
            warehouse,
            "select table_name, observed from forecast.dq_results where run_id = %s"
            " and check_name ="
            " 'raw_daily_sales.expect_column_max_to_be_between[rows_with_negative_units]'",
            (run_id,),
        )[0]
        # the run checked the new batch's rows, not the ones the first run had checked
        assert checked == (f"raw.daily_sales (batch {batch})", "1")  # one row
        assert published_run(warehouse) == served
    finally:
        with query_conn(warehouse) as conn:
            conn.execute("delete from raw.daily_sales where batch_id = %s", (batch,))
            conn.execute("delete from raw.load_batches where batch_id = %s", (batch,))
        assert run_dbt(
            ["build", "--full-refresh", "--exclude", "source:forecast+"], warehouse
        ).success


def test_a_row_slipped_into_a_checked_batch_halts_the_run(warehouse, first):
    """Old batches are not re-read row by row, so a change to one must show some other way:
    its row count no longer matches what it loaded."""
    served = published_run(warehouse)
    with query_conn(warehouse) as conn:
        batch = conn.execute("select max(batch_id) from raw.daily_sales").fetchone()[0]
        slipped = conn.execute(
            "insert into raw.daily_sales (restaurant_id, sku_id, sale_date, units, batch_id)"
            " select restaurant_id, sku_id, max(sale_date) + 1, 3, %s"
            " from raw.daily_sales group by restaurant_id, sku_id limit 1"
            " returning restaurant_id, sku_id, sale_date",
            (batch,),
        ).fetchone()
    try:
        _, message = _halted_run(warehouse)
        assert "raw_batches.expect_column_pair_values_to_be_equal[rows_loaded,rows_now]" in message
        assert published_run(warehouse) == served
    finally:
        with query_conn(warehouse) as conn:
            conn.execute(
                "delete from raw.daily_sales where batch_id = %s"
                " and restaurant_id = %s and sku_id = %s and sale_date = %s",
                (batch, *slipped),
            )
        assert run_dbt(["build", "--exclude", "source:forecast+"], warehouse).success


def test_drift_is_found_on_a_shifted_series_and_not_on_an_unchanged_one(warehouse, first, tmp_path):
    served = published_run(warehouse)
    end = scalar(
        warehouse, "select history_end from forecast.forecast_runs where run_id = %s", (served,)
    )
    # GIVEN no actuals after the origin yet THEN the check says so, and no triage says "keep"
    reviews = "select count(*) from forecast.agent_reviews where agent = 'drift'"
    triaged = scalar(warehouse, reviews)
    early = drift_check(url=warehouse)
    assert early["summary"] == f"no new actuals yet: none after {end} (run {served})"
    assert "triage" not in early and scalar(warehouse, reviews) == triaged
    # new actuals for 21 days: each series sells a Poisson draw around its forecast (no change),
    # except the busiest series, which sells three times that
    rows = query(
        warehouse,
        """select restaurant_id, sku_id, forecast_date, yhat from marts.fct_forecast
            where level = 'restaurant_sku' and forecast_date <= %s
            order by 1, 2, 3""",
        (end + timedelta(days=21),),
    )
    rng = np.random.default_rng(0)
    busy = query(
        warehouse,
        """select restaurant_id, sku_id from marts.fct_daily_sales
            where sale_date > %s - 90 group by 1, 2 order by avg(units) desc limit 1""",
        (end,),
    )
    shifted = busy[0]
    path = tmp_path / "new_days.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["restaurant_id", "sku_id", "sale_date", "units"])
        for r, s, d, yhat in rows:
            units = int(rng.poisson(yhat))
            w.writerow([r, s, d.isoformat(), 3 * units + 5 if (r, s) == shifted else units])
    import_daily(warehouse, path)
    assert run_dbt(["build", "--exclude", "source:forecast+"], warehouse).success
    result = drift_check(url=warehouse)
    flagged = {
        key
        for key, drifted in query(
            warehouse,
            """select node_key, drifted from forecast.drift_metrics
                where check_id = %s and level = 'restaurant_sku'""",
            (result["check_id"],),
        )
        if drifted
    }
    assert f"{shifted[0]}/{shifted[1]}" in flagged
    unchanged = {f"{r}/{s}" for r, s, _, _ in rows} - {f"{shifted[0]}/{shifted[1]}"}
    reasons = query(
        warehouse,
        "select node_key, reasons, error_ratio, bias, n_days from forecast.drift_metrics"
        " where check_id = %s and drifted and level = 'restaurant_sku'",
        (result["check_id"],),
    )
    assert not flagged & unchanged, reasons
    assert result["drifted"] >= 1


def query_conn(url):
    import psycopg

    return psycopg.connect(url)


def test_rebuilding_the_sales_marts_keeps_the_forecast_marts_served(warehouse, first):
    # a sales-mart table swap drops the forecast views that read it (cascade): the pipeline's
    # first step must put them back, not leave readers without a forecast until step 5
    from flows.pipeline import WAREHOUSE_MODELS, dbt_build

    assert dbt_build(warehouse, WAREHOUSE_MODELS).success
    for view in ("fct_forecast", "fct_forecast_accuracy", "fct_forecast_vs_actual"):
        assert query(warehouse, "select to_regclass(%s) is not null", (f"marts.{view}",)) == [
            (True,)
        ], view
    assert query(warehouse, "select count(*) > 0 from marts.fct_forecast") == [(True,)]
