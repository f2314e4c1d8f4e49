"""MLflow's artifacts on S3: with MLFLOW_S3_ENDPOINT_URL and credentials set, a run's artifacts
land in the bucket (created if missing) of a real S3-compatible server (moto in server mode)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pandas as pd

from flows.forecast import make_tracker
from ml.tracking import Tracker, warehouse_tracking_uri
from tests.s3.conftest import keys

ENGINE_FILES = {
    "summary.json",
    "model_selection.csv",
    "interval_calibration.csv",
    "feature_importance_lightgbm.json",
}


class _Model:
    def feature_importance(self) -> dict:
        return {"lag_7": 0.6, "dow": 0.4}


def _engine_result():
    """What Tracker.log_engine reads from an engine result, small."""
    metrics = pd.DataFrame(
        {
            "model": ["snaive", "lightgbm"],
            "level": ["restaurant_sku"] * 2,
            "mase": [1.1, 0.9],
            "smape": [0.3, 0.25],
            "wql": [0.2, 0.18],
            "coverage_80": [0.78, 0.81],
        }
    )
    return SimpleNamespace(
        metrics=metrics,
        backtest=SimpleNamespace(seconds={"snaive": 0.1, "lightgbm": 2.0}),
        summary={"models_chosen": {"lightgbm": 8}, "default_model": "lightgbm"},
        selection=pd.DataFrame({"node_key": ["R0001/S0001"], "model": ["lightgbm"]}),
        calibration=pd.DataFrame({"model": ["lightgbm"], "q10": [-3.0], "q90": [3.0]}),
        fitted={"lightgbm": _Model()},
    )


def test_a_tracked_runs_artifacts_land_in_the_bucket(module_warehouse, s3_settings, bucket_client):
    bucket = s3_settings.mlflow_s3_bucket
    assert bucket not in {b["Name"] for b in bucket_client.list_buckets()["Buckets"]}
    # WHEN the forecast's tracker logs a run (as `frycast forecast` does)
    tracker = make_tracker(module_warehouse, s3_settings)
    with tracker.run("s3-artifacts") as run:
        tracker.log_engine(_engine_result())
    run_id = run.info.run_id
    # THEN the experiment keeps its artifacts in the bucket, which was created
    assert tracker.experiment == s3_settings.mlflow_experiment
    exp = tracker.client.get_experiment_by_name(tracker.experiment)
    assert exp.artifact_location == f"s3://{bucket}/artifacts"
    assert run.info.artifact_uri == f"s3://{bucket}/artifacts/{run_id}/artifacts"
    # and the engine's artifacts are objects in it
    prefix = f"artifacts/{run_id}/artifacts/engine/"
    assert keys(bucket_client, bucket, prefix) == {prefix + f for f in ENGINE_FILES}
    summary = bucket_client.get_object(Bucket=bucket, Key=prefix + "summary.json")["Body"].read()
    assert json.loads(summary)["default_model"] == "lightgbm"
    # MLflow lists them back from S3 too
    listed = {f.path for f in tracker.client.list_artifacts(run_id, "engine")}
    assert listed == {f"engine/{f}" for f in ENGINE_FILES}


def test_an_experiment_created_with_local_artifacts_is_not_reused_for_s3(
    module_warehouse, s3_settings, bucket_client, tmp_path, caplog
):
    # GIVEN the experiment already exists, with its artifacts on local disk
    uri = warehouse_tracking_uri(module_warehouse)
    name = s3_settings.mlflow_experiment
    local = Tracker(uri, name, tmp_path.as_uri())
    assert local.experiment == name
    # WHEN S3 is configured: a sibling experiment named after the location, and a warning
    with caplog.at_level(logging.WARNING, logger="ml.tracking"):
        tracker = make_tracker(module_warehouse, s3_settings)
    root = f"s3://{s3_settings.mlflow_s3_bucket}/artifacts"
    assert tracker.experiment == f"{name} [{root}]"
    assert "keeps its artifacts in" in caplog.text and tracker.experiment in caplog.text
    with tracker.run("moved") as run:
        tracker.mlflow.log_text("hello", "engine/note.txt")
    key = f"artifacts/{run.info.run_id}/artifacts/engine/note.txt"
    assert keys(bucket_client, s3_settings.mlflow_s3_bucket) == {key}
    # the same again reuses the sibling; back to local disk returns to the first experiment
    assert make_tracker(module_warehouse, s3_settings).experiment == tracker.experiment
    assert Tracker(uri, name, tmp_path.as_uri()).experiment == name
