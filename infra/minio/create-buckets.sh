#!/bin/sh
# docker-compose's `minio-init` step: create the buckets frycast writes to (idempotent), then exit.
#   frycast-mlflow     MLflow artifacts (models, backtest tables, plots)
#   frycast-snapshots  Parquet snapshot of every published forecast run
set -eu
mc alias set local "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for bucket in "${FRYCAST_MLFLOW_BUCKET:-frycast-mlflow}" "${FRYCAST_SNAPSHOT_BUCKET:-frycast-snapshots}"; do
  mc mb --ignore-existing "local/$bucket"
done
mc ls local
