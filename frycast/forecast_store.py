"""Write forecasting results to forecast.* (COPY) and keep the run bookkeeping."""

from __future__ import annotations

import json

import pandas as pd
import psycopg

from ingest.copy import copy_frames

VALUE_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "restaurant_id",
    "sku_id",
    "product_group",
    "region",
    "forecast_date",
    "yhat",
    "yhat_q50",
    "yhat_lo80",
    "yhat_hi80",
    "model",
    "reconciled",
]
METRIC_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "model",
    "fold",
    "origin",
    "horizon",
    "n_obs",
    "mase",
    "smape",
    "wql",
    "coverage_80",
]
SELECTION_COLUMNS = [
    "run_id",
    "level",
    "node_key",
    "restaurant_id",
    "sku_id",
    "model",
    "score",
    "runner_up",
    "runner_up_score",
    "segment",
    "reason",
    "scores",
]
CALIBRATION_COLUMNS = [
    "run_id",
    "level",
    "model",
    "horizon_bucket",
    "volume_class",
    "q10",
    "q50",
    "q90",
    "n_residuals",
]


def open_run(url: str, horizon: int, config: dict) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "insert into forecast.forecast_runs (horizon_days, config) values (%s, %s)"
            " returning run_id",
            (horizon, json.dumps(config, default=str)),
        ).fetchone()[0]


def finish_run(
    url: str,
    run_id: int,
    *,
    status: str,
    history_end=None,
    mlflow_run_id=None,
    message: str | None = None,
) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """update forecast.forecast_runs
                  set status = %s, finished_at = now(), history_end = coalesce(%s, history_end),
                      mlflow_run_id = coalesce(%s, mlflow_run_id), message = %s
                where run_id = %s""",
            (status, history_end, mlflow_run_id, message, run_id),
        )


def write_results(url: str, run_id: int, result) -> dict[str, int]:
    """Forecast values, backtest metrics, model selection and calibration of one engine result."""
    sel = result.selection.assign(run_id=run_id)
    if "level" not in sel:
        sel["level"] = "restaurant_sku"
    cal = result.calibration.rename(columns={"n": "n_residuals"}).assign(run_id=run_id)
    if "level" not in cal:
        cal["level"] = "restaurant_sku"
    frames = {
        "forecast.forecast_values": (VALUE_COLUMNS, result.forecasts.assign(run_id=run_id)),
        "forecast.backtest_metrics": (METRIC_COLUMNS, result.metrics.assign(run_id=run_id)),
        "forecast.model_selection": (SELECTION_COLUMNS, sel),
        "forecast.interval_calibration": (CALIBRATION_COLUMNS, cal),
    }
    counts = {}
    with psycopg.connect(url) as conn:
        for table, (cols, frame) in frames.items():
            counts[table] = copy_frames(conn, table, cols, _chunks(frame[cols]))
    return counts


def _chunks(frame: pd.DataFrame, size: int = 500_000):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
