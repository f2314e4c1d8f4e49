"""The Australian domestic tourism experiment (FPP3 §11.4, Table 11.2), reproduced.

Quarterly overnight trips 1998 Q1 - 2017 Q4 by State / Region × Purpose: a grouped hierarchy of
425 series (total, 8 states, 4 purposes, 76 regions, 32 state × purpose, 304 region × purpose).
ETS base forecasts (statsforecast AutoETS, model "ZZA", season 4) are fitted to every series on
data up to 2015 Q4, forecast h = 8 quarters, and reconciled bottom-up, OLS and MinT-shrink (with
in-sample one-step residuals). MASE uses the in-sample seasonal naive scale (m = 4) and is
averaged over the series of each level; "Overall" averages over all 425.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.metrics import mase, seasonal_naive_scale
from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.methods import build_reconciler

LEVELS = (
    ("Total", ()),
    ("State", ("State",)),
    ("Purpose", ("Purpose",)),
    ("Regions", ("State", "Region")),
    ("State x Purpose", ("State", "Purpose")),
)
BOTTOM = ("Bottom", ("State", "Region", "Purpose"))
TRAIN_END = "2015-10-01"  # 2015 Q4
H = 8
METHODS = {"Base": None, "BottomUp": "bottom_up", "MinT-shrink": "mint_shrink", "OLS": "ols"}
REPORT_LEVELS = ("Total", "Purpose", "State", "Regions", "Bottom", "Overall")


def load(path: Path) -> tuple[Hierarchy, np.ndarray, pd.DatetimeIndex]:
    """The hierarchy and every node's quarterly series (n_nodes × quarters)."""
    df = pd.read_csv(path, parse_dates=["quarter_start"])
    wide = df.pivot_table(
        index=["State", "Region", "Purpose"], columns="quarter_start", values="Trips"
    ).sort_index()
    bottom = wide.index.to_frame(index=False)
    h = Hierarchy.from_bottom(bottom, LEVELS, BOTTOM)
    return h, h.aggregate(wide.to_numpy(dtype=float)), pd.DatetimeIndex(wide.columns)


def ets_forecasts(y: np.ndarray, dates: pd.DatetimeIndex, h: int) -> tuple[np.ndarray, ...]:
    """AutoETS (ZZA, season 4) per series: h-step forecasts and in-sample fitted values."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    n, t = y.shape
    df = pd.DataFrame(
        {"unique_id": np.repeat(np.arange(n), t), "ds": np.tile(dates, n), "y": y.ravel()}
    )
    sf = StatsForecast(models=[AutoETS(season_length=4, model="ZZA")], freq="QS", n_jobs=1)
    fc = sf.forecast(df=df, h=h, fitted=True).sort_values(["unique_id", "ds"])
    fitted = sf.forecast_fitted_values().sort_values(["unique_id", "ds"])
    return (
        fc["AutoETS"].to_numpy().reshape(n, h),
        fitted["AutoETS"].to_numpy().reshape(n, t),
    )


def run(path: Path) -> pd.DataFrame:
    """MASE per level (rows) and method (columns), as in the published tables."""
    h, y, dates = load(path)
    train = dates <= pd.Timestamp(TRAIN_END)
    y_train, y_test = y[:, train], y[:, ~train][:, :H]
    base, fitted = ets_forecasts(y_train, dates[train], H)
    residuals = (y_train - fitted).T
    scale = seasonal_naive_scale(y_train, m=4)
    out = {}
    for label, method in METHODS.items():
        pred = (
            base
            if method is None
            else build_reconciler(method).reconcile(h, base, residuals=residuals)
        )
        per_series = mase(y_test, pred, scale)
        col = {}
        for level, rows in h.level_slices().items():
            col[level] = float(np.mean(per_series[rows]))
        col["Overall"] = float(np.mean(per_series))
        out[label] = col
    return pd.DataFrame(out).loc[list(REPORT_LEVELS)]


def published(path: Path) -> pd.DataFrame:
    """Nixtla's statsforecast reproduction of FPP3 Table 11.2 (MASE rows), in run()'s shape."""
    df = pd.read_csv(path)
    df = df[df["metric"].str.lower() == "mase"].set_index("level").drop(columns="metric")
    df.columns = list(METHODS)
    return df.loc[list(REPORT_LEVELS)]
