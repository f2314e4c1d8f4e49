"""The pipeline's snapshot step: after publish, in Prefect; a snapshot that fails is reported and
the run stays published (the full pipeline's snapshot is checked in tests/flows)."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.testing.utilities import prefect_test_harness

from flows import pipeline
from frycast.settings import get_settings
from tests.conftest import query
from tests.s3.runs import write_run
from warehouse.forecast_store import published_run


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@flow
def publish_and_snapshot(url: str, run_id: int) -> dict:
    """The forecast_pipeline's last two steps, as it runs them."""
    pipeline.publish(url, run_id)
    return pipeline._snapshot(url, run_id)


@pytest.fixture
def no_retry_delay(monkeypatch):
    monkeypatch.setattr(pipeline, "snapshot", pipeline.snapshot.with_options(retry_delay_seconds=0))


def test_a_published_run_is_snapshot_to_the_bucket(
    module_warehouse, s3_settings, bucket_client, no_retry_delay
):
    run_id = write_run(module_warehouse, "mint_shrink", seed=3)
    result = publish_and_snapshot(module_warehouse, run_id)
    bucket = s3_settings.snapshot_bucket
    assert result == {
        "uri": f"s3://{bucket}/snapshots/run_id={run_id}/forecast_values.parquet",
        "error": None,
    }
    head = bucket_client.head_object(Bucket=bucket, Key=result["uri"].split("/", 3)[3])
    assert head["ContentLength"] > 0


def test_a_failed_snapshot_leaves_the_run_published(
    module_warehouse, tmp_path, monkeypatch, no_retry_delay
):
    # GIVEN a snapshot folder that cannot be created (a file is in the way)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("FRYCAST_SNAPSHOT_DIR", str(blocker))
    get_settings.cache_clear()
    run_id = write_run(module_warehouse, "mint_shrink", seed=4)
    # WHEN the run is published and its snapshot fails (after its retries)
    result = publish_and_snapshot(module_warehouse, run_id)
    get_settings.cache_clear()
    # THEN the failure is reported, and the run is still the published, succeeded one
    assert result["uri"] is None and "Error" in result["error"]
    assert published_run(module_warehouse) == run_id
    assert query(
        module_warehouse,
        "select status, published, snapshot_uri from forecast.forecast_runs where run_id = %s",
        (run_id,),
    ) == [("succeeded", True, None)]
