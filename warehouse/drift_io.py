"""What the drift check reads and writes: the published forecast beside the actuals that arrived
(``marts.fct_forecast_vs_actual``), what its backtests promised (``marts.fct_forecast_accuracy``),
and the check's rows (``forecast.drift_metrics``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg


def served_vs_actual(url: str, run_id: int) -> tuple[object, pd.DataFrame]:
    """The run's forecast origin, and its served rows on the days with actuals after it."""
    with psycopg.connect(url) as conn:
        history_end = conn.execute(
            "select history_end from forecast.forecast_runs where run_id = %s", (run_id,)
        ).fetchone()[0]
        cur = conn.execute(
            """select level, node_key, forecast_date, yhat, yhat_lo80, yhat_hi80, actual
                 from marts.fct_forecast_vs_actual
                where run_id = %s and forecast_date > %s""",
            (run_id, history_end),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    for c in ("yhat", "yhat_lo80", "yhat_hi80", "actual"):
        frame[c] = frame[c].astype(float)
    return history_end, frame


def promised_mase(url: str, run_id: int) -> dict[tuple[str, str], float]:
    """Each node's backtest MASE for the forecast the run served (reconciled, or selected)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select level, node_key, avg(mase) from marts.fct_forecast_accuracy
                where run_id = %s and is_served and mase = mase group by 1, 2""",
            (run_id,),
        ).fetchall()
    return {(level, key): float(m) for level, key, m in rows}


def store_drift(url: str, run_id: int, frame: pd.DataFrame) -> int:
    """Write one check's rows; returns its check_id."""
    rows = frame.replace({np.nan: None})
    cols = ", ".join(frame.columns)
    slots = ", ".join(["%s"] * len(frame.columns))
    with psycopg.connect(url) as conn:
        check_id = conn.execute("select nextval('forecast.drift_check_id')").fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into forecast.drift_metrics (check_id, run_id, {cols})"
                f" values (%s, %s, {slots})",
                [(check_id, run_id, *r) for r in rows.itertuples(index=False)],
            )
    return int(check_id)
