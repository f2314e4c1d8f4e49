"""Published forecast snapshots: Parquet + manifest per run on a real S3-compatible server (moto
in server mode), read back with pyarrow's own S3 client; the local fallback; the CLI."""

from __future__ import annotations

import hashlib
import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from frycast.settings import Settings, get_settings
from tests.conftest import query, scalar
from tests.s3.conftest import KEY, REGION, SECRET, keys
from tests.s3.runs import DAYS, NODES, write_run
from warehouse import snapshots
from warehouse.forecast_store import finish_run, open_run, publish_run
from warehouse.snapshots import write_snapshot


@pytest.fixture(scope="module")
def base_only(module_warehouse) -> int:
    """A succeeded run that was not reconciled (and is not published)."""
    return write_run(module_warehouse, "none", seed=2)


@pytest.fixture(scope="module")
def published(module_warehouse, base_only) -> int:
    run_id = write_run(module_warehouse, "mint_shrink", seed=1)
    publish_run(module_warehouse, run_id)
    return run_id


def _columns(url: str) -> list[str]:
    return [
        r[0]
        for r in query(
            url,
            """select column_name from information_schema.columns
                where table_schema = 'forecast' and table_name = 'forecast_values'
                  and column_name <> 'run_id' order by ordinal_position""",
        )
    ]


def _served_rows(url: str, run_id: int, reconciled: bool) -> list[tuple]:
    cols = ", ".join(_columns(url))
    return query(
        url,
        f"select {cols} from forecast.forecast_values where run_id = %s and reconciled = %s"
        " order by level, node_key, reconciled, forecast_date",
        (run_id, reconciled),
    )


def _rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_a_published_run_lands_in_the_bucket_as_in_postgres(
    module_warehouse, published, s3_settings, s3_endpoint, bucket_client, monkeypatch
):
    # GIVEN tiny blocks, so the run is read and written as many row groups (streamed)
    monkeypatch.setattr(snapshots, "BLOCK_BYTES", 16 << 10)
    bucket = s3_settings.snapshot_bucket
    # WHEN the published run is snapshot (its bucket does not exist yet)
    snap = write_snapshot(module_warehouse, settings=s3_settings)
    # THEN the Parquet file and its manifest are in the bucket, under the run's key
    prefix = f"snapshots/run_id={published}/"
    assert snap.run_id == published
    assert snap.uri == f"s3://{bucket}/{prefix}forecast_values.parquet"
    assert keys(bucket_client, bucket) == {
        prefix + "forecast_values.parquet",
        prefix + "manifest.json",
    }
    # read back by pyarrow's own S3 client: the served (reconciled) rows, every column exactly
    fs = pafs.S3FileSystem(
        access_key=KEY,
        secret_key=SECRET,
        region=REGION,
        endpoint_override=s3_endpoint,
        scheme="http",
    )
    path = f"{bucket}/{prefix}forecast_values.parquet"
    table = pq.read_table(path, filesystem=fs)
    expected = _served_rows(module_warehouse, published, reconciled=True)
    assert table.column_names == _columns(module_warehouse)
    assert table.num_rows == snap.rows == len(expected) == len(NODES) * DAYS
    assert _rows(table) == expected
    total = scalar(
        module_warehouse,
        "select sum(yhat) from forecast.forecast_values where run_id = %s and reconciled",
        (published,),
    )
    assert sum(table.column("yhat").to_pylist()) == pytest.approx(total, rel=1e-12)
    assert set(table.column("reconciled").to_pylist()) == {True}
    assert table.column("restaurant_id").null_count > 0  # NULL stays NULL (the chain's rows)
    with fs.open_input_file(path) as f:
        assert pq.ParquetFile(f).metadata.num_row_groups > 1
    # the manifest describes the file, with its checksum
    body = bucket_client.get_object(Bucket=bucket, Key=prefix + "forecast_values.parquet")
    data = body["Body"].read()
    manifest = json.loads(
        bucket_client.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    published_at = scalar(
        module_warehouse,
        "select published_at from forecast.forecast_runs where run_id = %s",
        (published,),
    )
    assert manifest["run_id"] == published and manifest["rows"] == len(expected)
    assert manifest["columns"] == _columns(module_warehouse)
    assert manifest["history_end"] == "2024-12-31" and manifest["reconciled"] is True
    assert manifest["published_at"] == str(published_at)
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == snap.sha256
    assert body["Metadata"]["sha256"] == snap.sha256
    # and the run row says where its snapshot is
    assert (
        scalar(
            module_warehouse,
            "select snapshot_uri from forecast.forecast_runs where run_id = %s",
            (published,),
        )
        == snap.uri
    )


def test_writing_it_again_overwrites_the_same_keys_with_the_same_bytes(
    module_warehouse, published, s3_settings, bucket_client
):
    bucket = s3_settings.snapshot_bucket

    def objects() -> dict[str, bytes]:
        return {
            key: bucket_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys(bucket_client, bucket)
        }

    first = write_snapshot(module_warehouse, published, s3_settings)
    before = objects()
    again = write_snapshot(module_warehouse, published, s3_settings)
    assert (again.uri, again.sha256, again.rows) == (first.uri, first.sha256, first.rows)
    assert len(before) == 2 and objects() == before


def test_without_s3_the_snapshot_goes_to_the_warehouse_folder(
    module_warehouse, published, base_only, tmp_path, monkeypatch
):
    # GIVEN no S3 endpoint: snapshots go under FRYCAST_WAREHOUSE_DIR/snapshots
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("FRYCAST_SNAPSHOT_DIR", raising=False)
    monkeypatch.delenv("FRYCAST_SNAPSHOTS", raising=False)
    monkeypatch.setenv("FRYCAST_WAREHOUSE_DIR", str(tmp_path))
    settings = Settings()
    # WHEN the published run and an unreconciled run are snapshot, twice
    snap = write_snapshot(module_warehouse, settings=settings)
    base = write_snapshot(module_warehouse, base_only, settings)
    again = write_snapshot(module_warehouse, settings=settings)
    # THEN each is a Parquet file and a manifest in its run's folder, nothing else left behind
    folder = tmp_path / "snapshots" / f"run_id={published}"
    assert (
        snap.uri
        == f"{(tmp_path / 'snapshots').as_uri()}/run_id={published}/forecast_values.parquet"
    )
    assert snapshots._path(snap.uri) == folder / "forecast_values.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["forecast_values.parquet", "manifest.json"]
    table = pq.read_table(folder / "forecast_values.parquet")
    assert _rows(table) == _served_rows(module_warehouse, published, reconciled=True)
    assert (
        again.sha256 == snap.sha256 == json.loads((folder / "manifest.json").read_text())["sha256"]
    )
    # a run that was not reconciled is served (and snapshot) with its base rows
    base_table = pq.read_table(
        tmp_path / "snapshots" / f"run_id={base_only}" / "forecast_values.parquet"
    )
    assert _rows(base_table) == _served_rows(module_warehouse, base_only, reconciled=False)
    assert base.rows == len(NODES) * DAYS
    manifest = json.loads(
        (tmp_path / "snapshots" / f"run_id={base_only}" / "manifest.json").read_text()
    )
    assert manifest["published_at"] is None and manifest["reconciled"] is False


def test_snapshots_can_be_switched_off(module_warehouse, published, tmp_path, monkeypatch):
    monkeypatch.setenv("FRYCAST_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.setenv("FRYCAST_SNAPSHOTS", "off")
    assert write_snapshot(module_warehouse, settings=Settings()) is None
    assert not (tmp_path / "snapshots").exists()


def test_the_cli_prints_the_snapshot_uri(
    module_warehouse, published, s3_settings, bucket_client, monkeypatch
):
    from cli.main import app

    monkeypatch.setenv("DATABASE_URL", module_warehouse)
    get_settings.cache_clear()
    runner = CliRunner()
    done = runner.invoke(app, ["snapshot"])
    assert done.exit_code == 0, done.output
    bucket = s3_settings.snapshot_bucket
    assert (
        done.stdout.strip() == f"s3://{bucket}/snapshots/run_id={published}/forecast_values.parquet"
    )
    assert f"snapshots/run_id={published}/manifest.json" in keys(bucket_client, bucket)
    # a run that did not succeed has nothing to snapshot
    failed = open_run(module_warehouse, DAYS, {})
    finish_run(module_warehouse, failed, status="failed")
    refused = runner.invoke(app, ["snapshot", "--run-id", str(failed)])
    assert refused.exit_code == 1 and "status failed" in refused.stderr
