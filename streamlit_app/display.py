"""How the dashboard shows a table to a planner: readable headers ("low (80 %)", not
`yhat_lo80`), units rounded with thousands separators, shares as percentages, dates with their
year. One place, so every page names a column the same way. Pure pandas + Streamlit's column
config; the numbers themselves are not changed (downloads keep them exact)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import streamlit as st

UNITS = "%,.0f"  # whole units, thousands separated
SCORE = "%.3f"  # MASE, wQL, sMAPE: unitless scores read to three decimals
PERCENT = "%.0f %%"
SIGNED_PCT = "%+.1f %%"
DATE = "D MMM YYYY"  # Streamlit's date format (moment.js tokens): "4 Aug 2019"
DATETIME = "D MMM YYYY, HH:mm"

# column -> (header, number format); a share (0..1) is shown as a percentage, see SHARES
COLUMNS: dict[str, tuple[str, str | None]] = {
    "date": ("date", None),
    "run_id": ("run", "%d"),  # ids: no thousands separator
    "batch_id": ("batch", "%d"),
    "line_no": ("line", "%d"),
    "override_id": ("override", "%d"),
    "supersedes": ("replaces override", "%d"),
    "check_id": ("check", "%d"),
    "node_key": ("code", None),
    "node_name": ("name", None),
    "yhat": ("forecast (units)", UNITS),
    "yhat_lo80": ("low (80 %)", UNITS),
    "yhat_hi80": ("high (80 %)", UNITS),
    "yhat_statistical": ("statistical forecast (units)", UNITS),
    "units": ("units sold", UNITS),
    "units_last_year": ("same days last year (units)", UNITS),
    "vs_last_year_pct": ("vs last year", SIGNED_PCT),
    "next_12_months": ("next 12 months (units)", UNITS),
    "last_12_months": ("last 12 months (units)", UNITS),
    "yoy_pct": ("vs last 12 months", SIGNED_PCT),
    "actual_units": ("actual (units)", UNITS),
    "p_open": ("chance open", PERCENT),
    "base_model": ("base model", None),
    "mase": ("MASE", SCORE),
    "smape": ("sMAPE", SCORE),
    "wql": ("wQL", SCORE),
    "coverage_80": ("in the 80 % band", PERCENT),
    "mae": ("mean abs. error (units/day)", "%,.1f"),
    "bias": ("bias (units/day)", "%+,.1f"),
    "error_ratio": ("error vs backtest", "%.2f×"),
    "series_scored": ("series scored", "%,d"),
    "series_unscored": ("series not scored", "%,d"),
    "days": ("days", "%,d"),
    "partial": ("partial period", None),
    "nodes": ("nodes", "%,d"),
    "drifted": ("drifted", "%,d"),
    "n_days": ("days measured", "%,d"),
    "ks_pvalue": ("KS p-value", "%.3f"),
    "psi": ("PSI", "%.2f"),
    "history_end": ("data ends", None),
    "horizon_days": ("days forecast", "%,d"),
    "created_at": ("started", None),
    "finished_at": ("finished", None),
    "checked_at": ("checked", None),
    "date_from": ("from", None),
    "date_to": ("to", None),
    "expires_on": ("expires", None),
}
SHARES = {"p_open", "coverage_80"}  # stored as 0..1, shown as %


def _header(column: str) -> str:
    return COLUMNS.get(column, (column.replace("_", " "), None))[0]


def table_config(df: pd.DataFrame) -> dict:
    """Streamlit column config for every column of ``df``: header, number or date format."""
    config = {}
    for column in df.columns:
        header, fmt = COLUMNS.get(column, (column.replace("_", " "), None))
        values = df[column]
        if pd.api.types.is_bool_dtype(values):
            config[column] = st.column_config.CheckboxColumn(header)
        elif pd.api.types.is_datetime64_any_dtype(values):
            has_time = (values.dropna().dt.normalize() != values.dropna()).any()
            config[column] = st.column_config.DatetimeColumn(
                header, format=DATETIME if has_time else DATE
            )
        elif _is_dates(values):
            config[column] = st.column_config.DateColumn(header, format=DATE)
        elif pd.api.types.is_numeric_dtype(values):
            if fmt is None:
                fmt = "%,d" if pd.api.types.is_integer_dtype(values) else "%,.2f"
            config[column] = st.column_config.NumberColumn(header, format=fmt)
        else:
            config[column] = st.column_config.TextColumn(header)
    return config


def _is_dates(values: pd.Series) -> bool:
    """Python dates in an object column (what psycopg returns for a `date`)."""
    return _first(values, dt.date)


def _first(values: pd.Series, kind: type) -> bool:
    """The column holds Python objects of ``kind`` (judged by its first value)."""
    if values.dtype != object:
        return False
    sample = values.dropna()
    return not sample.empty and isinstance(sample.iloc[0], kind)


def for_planners(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as shown: Postgres `numeric` columns (Decimals, which pandas keeps as objects
    and Streamlit would show as text) as floats, shares as percentages (0.8 → 80)."""
    decimals = [c for c in df.columns if _first(df[c], Decimal)]
    out = df.assign(**{c: pd.to_numeric(df[c], errors="coerce") for c in decimals})
    shares = [c for c in out.columns if c in SHARES and pd.api.types.is_numeric_dtype(out[c])]
    return out.assign(**{c: 100 * out[c] for c in shares}) if shares else out


def show(df: pd.DataFrame, column_config: dict | None = None, **kwargs) -> None:
    """``st.dataframe`` in a planner's language; ``column_config`` entries override ours."""
    shown = for_planners(df)
    st.dataframe(
        shown,
        hide_index=True,
        column_config={**table_config(shown), **(column_config or {})},
        **kwargs,
    )
