"""The `drift_check` flow: are the published forecasts still right, now that actuals arrive?

For every node of the published run with actuals after its forecast origin: the error of the
served forecast on those days against what its backtests promised (MASE ratio), the bias, the
80 % interval coverage, and how far the distribution of daily units in the new days moved from
the last 365 days of training (PSI, and a two-sample Kolmogorov–Smirnov test, which unlike PSI
accounts for how few new days there are). A node drifts when, with enough new days, its error is
well above its backtest error, or it is biased, or its distribution moved; the summary says which
levels and nodes, and the flow can trigger a new `forecast_pipeline` run.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import psycopg
from prefect import flow, task
from scipy.stats import binom, ks_2samp

from frycast.db import pipeline_url
from frycast.forecast_store import published_run
from frycast.panel_io import load_panel
from ml.metrics import seasonal_naive_scale
from ml.reconcile.hierarchy import Hierarchy

log = logging.getLogger(__name__)

MIN_DAYS = 7
ERROR_RATIO = 1.5  # new MASE over backtest MASE
BIAS = 0.25  # |mean(actual - forecast)| / mean(actual)
PSI_DRIFT = 0.25
PSI_MIN_DAYS = 56  # PSI over 10 bins is noise below this (≈ 9 / n for identical distributions)
KS_PVALUE = 0.001  # two-sample Kolmogorov–Smirnov: sample-size aware, used at any length
INPUT_SHIFT_ERROR_RATIO = 1.2  # an input shift counts as drift when the error grew this much
COVERAGE_FLOOR = 0.5
COVERAGE_PVALUE = 1e-4  # P(this few days inside | a calibrated 80 % interval)


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (deciles of expected)."""
    expected, actual = expected[~np.isnan(expected)], actual[~np.isnan(actual)]
    if expected.size < bins or actual.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return 0.0 if np.allclose(actual, expected[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / expected.size
    a = np.histogram(actual, edges)[0] / actual.size
    e, a = np.maximum(e, 1e-4), np.maximum(a, 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


@task
def measure_drift(url: str) -> dict:
    run_id = published_run(url)
    if run_id is None:
        return {"summary": "no published forecast yet: nothing to check", "drifted": 0}
    with psycopg.connect(url) as conn:
        history_end, reconciler = conn.execute(
            "select history_end, coalesce(config ->> 'reconciler', 'none')"
            " from forecast.forecast_runs where run_id = %s",
            (run_id,),
        ).fetchone()
        served_model = reconciler if reconciler != "none" else "selected"
        fc = pd.DataFrame(
            conn.execute(
                """select level, node_key, forecast_date, yhat, yhat_lo80, yhat_hi80
                     from forecast.forecast_values
                    where run_id = %s and reconciled = %s""",
                (run_id, reconciler != "none"),
            ).fetchall(),
            columns=["level", "node_key", "forecast_date", "yhat", "lo", "hi"],
        )
        promised = dict(
            conn.execute(
                """select level || '|' || node_key, avg(mase) from forecast.backtest_metrics
                    where run_id = %s and model = %s and mase = mase group by 1""",
                (run_id, served_model),
            ).fetchall()
        )
    panel = load_panel(url, horizon=1, stale_after_days=None)
    series = panel.series
    h = Hierarchy.from_bottom(series)
    y = h.aggregate_observed(panel.y)  # every node's actuals, history and new days
    dates = panel.dates
    new = dates > pd.Timestamp(history_end)
    train = (dates <= pd.Timestamp(history_end)) & (
        dates > pd.Timestamp(history_end) - pd.Timedelta(days=365)
    )
    if not new.any():
        return {
            "run_id": run_id,
            "summary": f"no actuals after {history_end} yet (run {run_id})",
            "drifted": 0,
            "bottom_share": 0.0,
        }
    new_dates = dates[new].date
    column_of = dict(zip(new_dates, np.flatnonzero(new), strict=True))  # date -> y column
    node_index = {
        (lvl, key): i
        for i, (lvl, key) in enumerate(zip(h.nodes["level"], h.nodes["node_key"], strict=True))
    }
    fc = fc[fc["forecast_date"].isin(set(new_dates))]
    grid = {
        name: fc.pivot_table(index=["level", "node_key"], columns="forecast_date", values=name)
        for name in ("yhat", "lo", "hi")
    }
    rows = []
    scale_all = seasonal_naive_scale(y[:, ~new])
    for (level, key), yhat in grid["yhat"].iterrows():
        i = node_index.get((level, key))
        if i is None:
            continue
        cols = [column_of[d] for d in yhat.index]
        actual = y[i, cols]
        ok = ~np.isnan(actual)
        n = int(ok.sum())
        if n == 0:
            continue
        f = yhat.to_numpy()[ok]
        a = actual[ok]
        lo = grid["lo"].loc[(level, key)].to_numpy()[ok]
        hi = grid["hi"].loc[(level, key)].to_numpy()[ok]
        mae = float(np.mean(np.abs(a - f)))
        new_mase = mae / scale_all[i] if scale_all[i] > 0 else np.nan
        back = promised.get(f"{level}|{key}")
        ratio = new_mase / back if back and back > 0 else np.nan
        bias = float(np.mean(a - f) / np.mean(a)) if np.mean(a) > 0 else np.nan
        cover = float(np.mean((a >= lo) & (a <= hi)))
        stability = psi(y[i, train], a)
        history = y[i, train]
        history = history[~np.isnan(history)]
        ks_p = float(ks_2samp(history, a).pvalue) if history.size >= MIN_DAYS else float("nan")
        reasons, notes = [], []
        if n >= MIN_DAYS:
            resid = a - f
            t_stat = (
                resid.mean() / (resid.std(ddof=1) / np.sqrt(n)) if resid.std(ddof=1) > 0 else 0.0
            )
            if ratio == ratio and ratio > ERROR_RATIO:
                reasons.append(f"error {ratio:.1f}× its backtest error")
            # a bias must be large *and* clear of the day-to-day noise (|t| > 3)
            if bias == bias and abs(bias) > BIAS and abs(t_stat) > 3:
                reasons.append(f"bias {bias:+.0%}")
            # under-coverage must be unlikely for a calibrated 80% interval, not just low
            covered = int(round(cover * n))
            if cover < COVERAGE_FLOOR and binom.cdf(covered, n, 0.8) < COVERAGE_PVALUE:
                reasons.append(f"80% interval covers {cover:.0%}")
            # input shift alone is often just the season: it counts when the error grew too
            if n >= PSI_MIN_DAYS and stability == stability and stability > PSI_DRIFT:
                notes.append(f"PSI {stability:.2f}")
            if ks_p == ks_p and ks_p < KS_PVALUE:
                notes.append(f"units distribution moved (KS p = {ks_p:.1e})")
            if notes and ratio == ratio and ratio > INPUT_SHIFT_ERROR_RATIO:
                reasons.extend(notes)
                notes = []
        drifted = bool(reasons)
        reasons = reasons + [f"(input shift, forecast still fine: {x})" for x in notes]
        rows.append(
            (
                level,
                key,
                min(new_dates),
                max(new_dates),
                n,
                mae,
                back * scale_all[i] if back else None,
                ratio,
                bias,
                cover,
                stability,
                ks_p,
                drifted,
                "; ".join(reasons) or None,
            )
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "level",
            "node_key",
            "window_start",
            "window_end",
            "n_days",
            "mae",
            "backtest_mae",
            "error_ratio",
            "bias",
            "coverage_80",
            "psi",
            "ks_pvalue",
            "drifted",
            "reasons",
        ],
    ).replace({np.nan: None})
    with psycopg.connect(url) as conn:
        check_id = conn.execute("select nextval('forecast.drift_check_id')").fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                """insert into forecast.drift_metrics
                   (check_id, run_id, level, node_key, window_start, window_end, n_days, mae,
                    backtest_mae, error_ratio, bias, coverage_80, psi, ks_pvalue, drifted, reasons)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(check_id, run_id, *r) for r in frame.itertuples(index=False)],
            )
    by_level = frame.groupby("level")["drifted"].agg(["sum", "count"])
    bottom = by_level.loc["restaurant_sku"] if "restaurant_sku" in by_level.index else None
    share = float(bottom["sum"] / bottom["count"]) if bottom is not None else 0.0
    drifted = frame[frame["drifted"]]
    summary = (
        f"drift check {check_id} of run {run_id}: {len(drifted)} of {len(frame)} nodes drifted "
        f"over {frame['n_days'].max()} new days"
        + (
            "; "
            + ", ".join(
                f"{lvl} {int(r['sum'])}/{int(r['count'])}" for lvl, r in by_level.iterrows()
            )
            if len(drifted)
            else ""
        )
    )
    return {
        "check_id": int(check_id),
        "run_id": run_id,
        "drifted": int(len(drifted)),
        "bottom_share": share,
        "drifted_nodes": drifted[["level", "node_key", "reasons"]].head(50).to_dict("records"),
        "summary": summary,
    }


@flow(name="drift_check", log_prints=True)
def drift_check(url: str | None = None, trigger: bool = False) -> dict:
    """Measure drift of the published forecast; optionally re-run the pipeline when it drifted."""
    given, url = url, url or pipeline_url()
    result = measure_drift(url)
    print(result["summary"])
    if result.get("run_id") is None:  # nothing published: nothing to triage
        return result
    verdict, requests = triage(url, result)
    result["triage"] = {"verdict": verdict.verdict, "summary": verdict.summary}
    print(f"drift triage: {verdict.verdict} — {verdict.summary}")
    wants = verdict.verdict == "retrain" or any(r["action"] == "retrain" for r in requests)
    if trigger and wants:
        from flows.pipeline import forecast_pipeline

        print("the triage asks for a retrain: running forecast_pipeline")
        result["triggered"] = forecast_pipeline(url=given)  # it logs in itself when not given
    return result


@task
def triage(url: str, result: dict):
    """The drift triage agent (rules offline): what drifted, and retrain or keep."""
    from agents.reviewers import review

    return review("drift", url, result["run_id"], extra=result)
