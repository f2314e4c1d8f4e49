"""S3 / MinIO through boto3: the client frycast writes snapshots with, buckets created on first
use, and the environment MLflow's artifact store reads (it builds its own boto3 client from
``MLFLOW_S3_ENDPOINT_URL`` and ``AWS_*`` in ``os.environ``, never from frycast's settings)."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from frycast.settings import Settings

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchBucket", "NotFound"}


def client(settings: Settings):
    """A boto3 S3 client for the configured endpoint (MinIO, moto, ...; AWS when unset)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.mlflow_s3_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_default_region,
    )


def ensure_bucket(s3, bucket: str) -> bool:
    """Create ``bucket`` unless it exists; True when it was created. Without permission to look
    (403), assume it exists and let the writes say otherwise."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"403", "AccessDenied", "Forbidden"}:
            log.warning("cannot check bucket %s (access denied); assuming it exists", bucket)
            return False
        if code not in _MISSING:
            raise
    region = s3.meta.region_name
    where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **({} if region in (None, "us-east-1") else where))
    except ClientError as exc:  # created meanwhile by another process
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
        return False
    log.info("created bucket %s", bucket)
    return True


def export_env(settings: Settings) -> None:
    """Put S3 settings that came from a `.env` file into ``os.environ`` for MLflow; variables
    already in the environment are left as they are."""
    values = {
        "MLFLOW_S3_ENDPOINT_URL": settings.mlflow_s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": settings.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key,
        "AWS_DEFAULT_REGION": settings.aws_default_region,
    }
    for key, value in values.items():
        if value and not os.environ.get(key):
            os.environ[key] = value


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ``("bucket", "some/key")``."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri}")
    return parts.netloc, parts.path.lstrip("/")
