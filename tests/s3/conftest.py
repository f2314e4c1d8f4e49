"""A real S3-compatible server for these tests: moto in server mode on 127.0.0.1 (a free port),
spoken to over HTTP by boto3, MLflow and pyarrow exactly as they would speak to MinIO."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import boto3
import pytest

from frycast.settings import Settings, get_settings

KEY = SECRET = "testing"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint, monkeypatch, tmp_path) -> Iterator[Settings]:
    """The environment a MinIO user sets (endpoint, fake credentials), fresh bucket names per
    test, nothing read from the user's ~/.aws, and a throwaway warehouse folder."""
    for key in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "FRYCAST_MLFLOW_ARTIFACTS",
        "FRYCAST_SNAPSHOTS",
        "FRYCAST_SNAPSHOT_DIR",
    ):
        monkeypatch.delenv(key, raising=False)
    suffix = uuid.uuid4().hex[:10]
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "FRYCAST_SNAPSHOT_BUCKET": f"snapshots-{suffix}",
        "FRYCAST_MLFLOW_BUCKET": f"mlflow-{suffix}",
        "FRYCAST_MLFLOW_EXPERIMENT": f"s3-test-{suffix}",
        "FRYCAST_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


@pytest.fixture
def bucket_client(s3_endpoint):
    """A plain boto3 client to look into the server (not frycast's own)."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )


def keys(client, bucket: str, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}
