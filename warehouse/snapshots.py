"""Snapshots of published forecasts: one run's served forecast as Parquet, with a manifest.

    <root>/run_id=<id>/forecast_values.parquet
    <root>/run_id=<id>/manifest.json   (run_id, rows, columns, history_end, published_at,
                                        sha256 of the Parquet file)

``<root>`` is ``s3://$FRYCAST_SNAPSHOT_BUCKET/snapshots`` when S3 is configured (written through
boto3, bucket created if missing), else a local folder, ``<warehouse_dir>/snapshots`` unless
FRYCAST_SNAPSHOT_DIR says otherwise (``Settings.snapshot_root``). The rows are the
ones ``marts.fct_forecast`` serves: the run's reconciled rows when it was reconciled, its base
rows otherwise; every column of ``forecast.forecast_values`` but ``run_id``, which is in the
path (Hive-style, so ``pyarrow.dataset`` reads all runs at once as one table).

Streaming: ``COPY (select ...) TO STDOUT`` is parsed by pyarrow one block at a time and each
block written as a Parquet row group, so a chain-scale run never sits in memory whole; the file
is spooled to disk and then uploaded (multipart for big files). Writing a run's snapshot again
overwrites the same keys with the same bytes (rows in primary-key order); the manifest is written
last, so a manifest means its Parquet file is complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

from frycast.settings import Settings, get_settings
from warehouse import s3
from warehouse.forecast_store import published_run

log = logging.getLogger(__name__)

DATA_FILE = "forecast_values.parquet"
MANIFEST_FILE = "manifest.json"
BLOCK_BYTES = 16 << 20  # CSV read per block = one Parquet row group (~150k rows)

# Postgres types read as themselves; anything else is written as text.
_ARROW_TYPES = {
    "text": pa.string(),
    "character varying": pa.string(),
    "date": pa.date32(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
}


@dataclass(frozen=True)
class Snapshot:
    run_id: int
    uri: str  # the Parquet file
    manifest_uri: str
    rows: int
    sha256: str
    seconds: float


def snapshot_uri(root: str, run_id: int, name: str = DATA_FILE) -> str:
    return f"{root.rstrip('/')}/run_id={run_id}/{name}"


def write_snapshot(
    url: str, run_id: int | None = None, settings: Settings | None = None
) -> Snapshot | None:
    """Write ``run_id``'s (default: the published run's) snapshot; None when snapshots are off.
    The Parquet file's URI is recorded in ``forecast.forecast_runs.snapshot_uri``."""
    s = settings or get_settings()
    root = s.snapshot_root()
    if root is None:
        return None
    started = time.perf_counter()
    run_id = run_id if run_id is not None else published_run(url)
    if run_id is None:
        raise RuntimeError("no published run to snapshot")
    run = _run_info(url, run_id)
    columns = _columns(url)
    data_uri, manifest_uri = snapshot_uri(root, run_id), snapshot_uri(root, run_id, MANIFEST_FILE)
    local_dir = None if root.startswith("s3://") else _path(data_uri).parent
    if local_dir is not None:
        local_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=local_dir, prefix=".tmp-") as tmp:
        spool = Path(tmp) / DATA_FILE
        rows = _write_parquet(url, run_id, run["reconciled"], columns, spool)
        digest = _sha256(spool)
        manifest = {
            "run_id": run_id,
            "rows": rows,
            "columns": [name for name, _ in columns],
            "reconciled": run["reconciled"],
            "history_end": run["history_end"],
            "published_at": run["published_at"],
            "file": DATA_FILE,
            "bytes": spool.stat().st_size,
            "sha256": digest,
        }
        body = json.dumps(manifest, indent=2, default=str).encode()
        if local_dir is None:
            client = s3.client(s)
            bucket, key = s3.split(data_uri)
            s3.ensure_bucket(client, bucket)
            client.upload_file(
                str(spool),
                bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/vnd.apache.parquet",
                    "Metadata": {"sha256": digest},
                },
            )
            client.put_object(
                Bucket=bucket,
                Key=s3.split(manifest_uri)[1],
                Body=body,
                ContentType="application/json",
            )
        else:
            os.replace(spool, local_dir / DATA_FILE)
            (Path(tmp) / MANIFEST_FILE).write_bytes(body)
            os.replace(Path(tmp) / MANIFEST_FILE, local_dir / MANIFEST_FILE)
    with psycopg.connect(url) as conn:
        conn.execute(
            "update forecast.forecast_runs set snapshot_uri = %s where run_id = %s",
            (data_uri, run_id),
        )
    seconds = time.perf_counter() - started
    log.info("snapshot of run %s: %s rows → %s (%.1f s)", run_id, f"{rows:,}", data_uri, seconds)
    return Snapshot(run_id, data_uri, manifest_uri, rows, digest, seconds)


def _run_info(url: str, run_id: int) -> dict:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select status, history_end, published_at,
                      coalesce(config ->> 'reconciler', 'none') <> 'none'
                 from forecast.forecast_runs where run_id = %s""",
            (run_id,),
        ).fetchone()
    if row is None:
        raise RuntimeError(f"run {run_id} does not exist")
    if row[0] != "succeeded":
        raise RuntimeError(f"run {run_id} cannot be snapshot: status {row[0]}")
    return {"history_end": row[1], "published_at": row[2], "reconciled": row[3]}


def _columns(url: str) -> list[tuple[str, str]]:
    """forecast.forecast_values' columns but run_id, with their Postgres types, in table order."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """select column_name, data_type from information_schema.columns
                where table_schema = 'forecast' and table_name = 'forecast_values'
                  and column_name <> 'run_id'
                order by ordinal_position"""
        ).fetchall()


def _write_parquet(
    url: str, run_id: int, reconciled: bool, columns: list[tuple[str, str]], path: Path
) -> int:
    """COPY the run's rows out as CSV and write them block by block as Parquet row groups."""
    schema = pa.schema([(name, _ARROW_TYPES.get(kind, pa.string())) for name, kind in columns])
    select = sql.SQL(", ").join(
        sql.Identifier(name)
        if kind in _ARROW_TYPES
        else sql.SQL("{}::text").format(sql.Identifier(name))
        for name, kind in columns
    )
    stmt = sql.SQL(
        "copy (select {} from forecast.forecast_values where run_id = {} and reconciled = {}"
        " order by level, node_key, reconciled, forecast_date) to stdout with (format csv)"
    ).format(select, sql.Literal(run_id), sql.Literal(reconciled))
    read = pacsv.ReadOptions(column_names=schema.names, block_size=BLOCK_BYTES)
    convert = pacsv.ConvertOptions(
        column_types=schema,
        null_values=[""],  # COPY CSV: NULL is an empty unquoted field, '' is quoted
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    rows = 0
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cur,
        pq.ParquetWriter(path, schema, compression="zstd") as writer,
    ):
        cur.execute("set local extra_float_digits = 3")  # every float8 exactly
        with cur.copy(stmt) as copy:
            try:
                reader = pacsv.open_csv(
                    _CopyReader(copy),
                    read_options=read,
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=convert,
                )
            except pa.ArrowInvalid as exc:  # no rows: an empty file with the schema
                if "Empty CSV" not in str(exc):
                    raise
                reader = []
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


class _CopyReader(io.RawIOBase):
    """A COPY TO STDOUT as a file object pyarrow reads from (psycopg yields it row by row)."""

    def __init__(self, copy) -> None:
        self._chunks = iter(copy)
        self._buf = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, out) -> int:
        while len(self._buf) < len(out):
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        n = min(len(out), len(self._buf))
        out[:n] = self._buf[:n]
        del self._buf[:n]
        return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _path(file_uri: str) -> Path:
    return Path(url2pathname(urlsplit(file_uri).path))
