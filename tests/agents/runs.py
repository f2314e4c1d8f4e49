"""A small, complete forecasting run written through warehouse.forecast_store: two restaurants ×
two SKUs, every level of the hierarchy summed from the bottom (so coherent), base and reconciled
rows, backtest scores for the served model and seasonal naive. Each argument breaks one piece of
evidence the metric gate needs."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ml.reconcile.hierarchy import FRYCAST_BOTTOM, FRYCAST_LEVELS
from warehouse.forecast_store import (
    CALIBRATION_COLUMNS,
    SELECTION_COLUMNS,
    finish_run,
    open_run,
    write_results,
)

DAYS = 14
HISTORY_END = date(2025, 6, 30)
BOTTOM = pd.DataFrame(
    [
        ("R1", "S1", "burgers", "North"),  # a burger in restaurant 1
        ("R1", "S2", "drinks", "North"),
        ("R2", "S1", "burgers", "South"),
        ("R2", "S2", "drinks", "South"),
    ],
    columns=["restaurant_id", "sku_id", "product_group", "region"],
)


def _nodes(rng) -> pd.DataFrame:
    dates = [HISTORY_END + timedelta(days=d) for d in range(1, DAYS + 1)]
    y = rng.gamma(3.0, 10.0, size=(len(BOTTOM), DAYS))
    frames = []
    for level, cols in [*FRYCAST_LEVELS, FRYCAST_BOTTOM]:
        groups = BOTTOM.groupby(list(cols)).groups if cols else {"chain": BOTTOM.index}
        for key, idx in groups.items():
            values = key if isinstance(key, tuple) else (key,)
            # a node carries every attribute its members share (the bottom: all of them)
            members = BOTTOM.loc[list(idx)]
            attrs = {c: members[c].iat[0] for c in BOTTOM if members[c].nunique() == 1}
            frames.append(
                pd.DataFrame(
                    {
                        "level": level,
                        "node_key": "/".join(values) if cols else "chain",
                        "restaurant_id": attrs.get("restaurant_id"),
                        "sku_id": attrs.get("sku_id"),
                        "product_group": attrs.get("product_group"),
                        "region": attrs.get("region"),
                        "forecast_date": dates,
                        "yhat": y[list(idx)].sum(axis=0),
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True)
    return out.assign(
        yhat_q50=out.yhat, yhat_lo80=out.yhat * 0.8, yhat_hi80=out.yhat * 1.2, model="ets"
    )


def write_run(
    url: str,
    *,
    seed: int = 0,
    mase: float = 0.8,
    snaive: float | None = 1.0,
    coverage: float | None = 0.8,
    drop_level: str | None = None,
    drop_days: int = 0,
    nudge_chain: float = 0.0,
    forecasts: bool = True,
    backtests: bool = True,
    publish: bool = False,
    out_of_sample: bool | None = True,
    fallback_series: int = 0,
    patterns: pd.DataFrame | None = None,
) -> int:
    """Write and finish one run (mint_shrink); returns its run_id. ``patterns``: its backtest
    error patterns (default: none, as a run from before they were recorded)."""
    nodes = _nodes(np.random.default_rng(seed))
    if drop_level:
        nodes = nodes[nodes.level != drop_level]
    if drop_days:
        last = nodes.forecast_date.max()
        cut = (nodes.level == "restaurant") & (nodes.forecast_date > last - timedelta(drop_days))
        nodes = nodes[~cut]
    nodes = pd.concat([nodes.assign(reconciled=False), nodes.assign(reconciled=True)])
    if nudge_chain:
        hit = (
            (nodes.level == "chain")
            & nodes.reconciled
            & (nodes.forecast_date == nodes.forecast_date.min())
        )
        nodes.loc[hit, "yhat"] += nudge_chain
    scores = [("mint_shrink", mase, coverage), ("selected", mase, coverage)]
    if snaive is not None:
        scores.append(("snaive", snaive, 0.8))
    metrics = pd.DataFrame(
        [
            ("restaurant_sku", f"{r}/{s}", model, fold, HISTORY_END, DAYS, DAYS, value,
             0.3, 0.3, cov)
            for model, value, cov in scores
            for fold in (0, 1)
            for r, s in zip(BOTTOM.restaurant_id, BOTTOM.sku_id, strict=True)
        ],
        columns=["level", "node_key", "model", "fold", "origin", "horizon", "n_obs", "mase",
                 "smape", "wql", "coverage_80"],
    )  # fmt: skip
    selection = pd.DataFrame(
        [
            # three bottom series on ETS in the smooth segment, one on TSB (intermittent)
            ("restaurant_sku", f"{r}/{s}", r, s, model, 0.8, "snaive", 1.0, segment, "best",
             "{}")
            for (r, s), (model, segment) in zip(
                zip(BOTTOM.restaurant_id, BOTTOM.sku_id, strict=True),
                [("ets", "smooth")] * 3 + [("tsb", "intermittent")],
                strict=True,
            )
        ],
        columns=SELECTION_COLUMNS[1:],
    )  # fmt: skip
    result = SimpleNamespace(
        forecasts=nodes if forecasts else nodes.iloc[:0],
        metrics=metrics if backtests else metrics.iloc[:0],
        selection=selection,
        calibration=pd.DataFrame(columns=CALIBRATION_COLUMNS[1:]),
        patterns=patterns,
    )
    config = {"reconciler": "mint_shrink"}
    if out_of_sample is not None:  # None: a run that does not say
        config["evaluation"] = {
            "out_of_sample": out_of_sample,
            "why": None if out_of_sample else "1 backtest fold(s) of 14 days: no fold has earlier",
        }
    if fallback_series:
        config["fallbacks"] = {"ets": {"series_served_by_fallback": fallback_series}}
    run_id = open_run(url, DAYS, config)
    write_results(url, run_id, result)
    finish_run(url, run_id, status="succeeded", history_end=HISTORY_END)
    if publish:
        import psycopg

        with psycopg.connect(url) as conn:
            conn.execute(
                "update forecast.forecast_runs set published = true where run_id = %s", (run_id,)
            )
    return run_id
