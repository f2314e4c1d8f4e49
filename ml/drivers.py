"""Why a global model says what it says: TreeSHAP contributions in groups a planner reads.

LightGBM's ``pred_contrib`` and XGBoost's ``pred_contribs`` split each prediction's raw score
into one term per feature plus a bias (TreeSHAP, exact for trees). With a Tweedie objective the
raw score is a log, so the terms multiply; they are made additive in units with the logarithmic
mean of the prediction and the base: ``units_g = L_g * (pred - base) / (log pred - log base)``,
so the groups and the base add up to the prediction exactly, and no term blows up when the
prediction is near the base. The base is the bias on the series' recent level (targets are
relative to it, ``ml.models.gbm.relative_frame``): "the last four weeks' daily mean", from
which the groups move the forecast.

TreeSHAP costs far more than a prediction (a few ms a row against microseconds), so within a
budget of rows it runs on every ``stride``-th forecast day only (a stride prime to 7: every
weekday is sampled), each node and month's groups then scaled to that month's prediction so
they still add up to it exactly; past the widest stride the biggest nodes are explained first.
On a small panel the stride is 1 and nothing is estimated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.gbm_features import WindowSums
from ml.models.gbm import _GlobalGBM
from ml.panel import Panel

BASE = "base (recent daily level)"
# every feature's group; a feature not listed (an advisor's extra window) is "recent level"
GROUPS = {
    "weekday pattern": ("weekday_mean_8", "day_of_week", "is_weekend"),
    "last year's shape": (
        "last_year_same_day",
        "last_year_week",
        "last_year_ratio",
        "last_year_scaled",
        "day_of_year",
        "month_of_year",
        "doy_sin",
        "doy_cos",
    ),
    "holidays and events": (
        "is_holiday",
        "days_to_next_holiday",
        "days_since_last_holiday",
        "holiday_last_year_ratio",
        "holiday_last_year_scaled",
        "is_event",
        "days_to_next_event",
        "days_since_last_event",
        "after_closure",
    ),
    "promotions and price": (
        "discount_pct",
        "price_vs_recent",
        "list_price_vs_year",
        "list_price_vs_group",
    ),
    "trend": ("trend_91_364", "horizon"),
    "item and place": ("product_group_code", "region_code"),
}
RECENT_LEVEL = "recent level"
DRIVERS = (BASE, RECENT_LEVEL, *GROUPS)
LOG_LINK = ("tweedie", "poisson", "gamma", "reg:tweedie", "count:poisson", "reg:gamma")
CHUNK_ROWS = 200_000  # contributions are (rows × features): bounded memory on any panel
# TreeSHAP rows per model and engine: about 2-3 ms a row with 400 trees on 2 cores (London,
# measured), so ~30 s. Beyond it, a stride over the days; beyond the widest stride, the
# biggest nodes are explained first and the rest have no drivers in the run.
MAX_ROWS = 10_000
MAX_STRIDE = 13  # about two days a month, every weekday within a year


def day_stride(n_rows: int, max_rows: int = MAX_ROWS) -> int:
    """The smallest stride over forecast days keeping ``n_rows`` within ``max_rows`` that is
    prime to 7 (so every weekday is sampled), at most ``MAX_STRIDE``."""
    stride = max(1, -(-n_rows // max_rows))
    while stride > 1 and stride % 7 == 0:
        stride += 1
    return min(stride, MAX_STRIDE)


def group_of(feature: str) -> str:
    return next((g for g, cols in GROUPS.items() if feature in cols), RECENT_LEVEL)


def monthly_drivers(
    model: _GlobalGBM,
    panel: Panel,
    rows: np.ndarray,
    h: int,
    prediction: np.ndarray | None = None,
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """Per series in ``rows`` and calendar month of the ``h`` forecast days: the base and each
    driver group in units (they sum to the model's prediction, ``model.predict(h)``, which
    ``prediction`` may pass in: it is needed when the days are sampled).

    Columns: ``series`` (row of ``panel``), ``month`` (its first day), ``driver``, ``units``.
    """
    rows = np.asarray(rows, dtype=int)
    if getattr(model, "_short", None) or rows.size == 0:
        return pd.DataFrame(columns=["series", "month", "driver", "units"])
    origin = len(panel.dates) - 1
    sums = WindowSums(panel.y)
    every_h = np.arange(1, h + 1)
    month = panel.all_dates[origin + every_h].to_period("M").start_time
    month_codes, months = pd.factorize(month, sort=True)
    stride = day_stride(rows.size * h, max_rows)
    if stride > 1 and prediction is None:
        prediction = model.predict(h)
    horizons = every_h[::stride]
    h_sample = horizons.size
    if rows.size * h_sample > max_rows:  # the biggest nodes first, within the budget
        volume = prediction[rows].sum(axis=1)
        rows = np.sort(rows[np.argsort(-volume, kind="stable")[: max(1, max_rows // h_sample)]])
    groups = [group_of(c) for c in model.inputs_]
    out = []
    per_chunk = max(1, CHUNK_ROWS // h_sample)
    for start in range(0, rows.size, per_chunk):
        chunk = rows[start : start + per_chunk]
        series = np.repeat(chunk, h_sample)
        hh = np.tile(horizons, chunk.size)
        X, denom = model.design(panel, sums, origin, series, hh)
        parts = _contributions(model, X)
        units = _in_units(parts, denom, _log_link(model))
        table = pd.DataFrame(units, columns=[*groups, BASE]).T.groupby(level=0).sum().T
        table["series"], table["month"] = series, month_codes[hh - 1]
        table = table.groupby(["series", "month"]).sum()
        if stride > 1:  # the sampled days' split, scaled to the whole month's prediction
            total = _month_totals(prediction[chunk], chunk, month_codes)
            table = table.mul(total, axis=0).div(table.sum(axis=1), axis=0)
        long = table.stack().rename("units").reset_index()
        out.append(long.rename(columns={"level_2": "driver"}))
    frame = pd.concat(out, ignore_index=True)
    frame["month"] = months[frame["month"].to_numpy()]
    return frame


def _month_totals(pred: np.ndarray, rows: np.ndarray, month_codes) -> pd.Series:
    """The prediction summed per (series, month), indexed like the drivers' table."""
    total = pd.DataFrame(pred.T, columns=rows).groupby(month_codes).sum().T.stack()
    total.index.names = ["series", "month"]
    return total


def _contributions(model: _GlobalGBM, X: pd.DataFrame) -> np.ndarray:
    """(rows × features + 1) raw-score contributions; the last column is the bias."""
    if model.name == "lightgbm":
        return np.asarray(model.model_.predict(X, pred_contrib=True))
    import xgboost as xgb

    booster = model.model_.get_booster()
    return booster.predict(xgb.DMatrix(X), pred_contribs=True)


def _log_link(model: _GlobalGBM) -> bool:
    return str(model.hyper.get("objective", "")) in LOG_LINK


def _in_units(parts: np.ndarray, denom: np.ndarray, log_link: bool) -> np.ndarray:
    """Each row's contributions in units, the base last: they add up to the prediction."""
    terms, bias = parts[:, :-1], parts[:, -1]
    if not log_link:  # identity link: the terms are already additive, in relative units
        return np.column_stack([terms, bias]) * denom[:, None]
    base = denom * np.exp(bias)
    pred = denom * np.exp(parts.sum(axis=1))
    log_gap = np.log(pred) - np.log(base)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(np.abs(log_gap) > 1e-12, (pred - base) / log_gap, pred)
    return np.column_stack([terms * weight[:, None], base])
