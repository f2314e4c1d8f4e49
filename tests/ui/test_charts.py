"""Chart specs, checked without a browser: what is drawn, from which columns, with which data."""

from __future__ import annotations

import pandas as pd

from streamlit_app import charts


def test_history_forecast_band_holidays_and_promotions_share_one_time_axis():
    history = pd.DataFrame({"date": pd.date_range("2025-12-01", periods=31), "units": 10.0})
    days = pd.date_range("2026-01-01", periods=14)
    forecast = pd.DataFrame(
        {"date": days, "yhat": 12.0, "yhat_lo80": 8.0, "yhat_hi80": 16.0, "model": "mint_shrink"}
    )
    holidays = pd.DataFrame({"date": [pd.Timestamp("2026-01-01")], "name": ["New Year's Day"]})
    promos = pd.DataFrame({"date": days[:3], "items": 2, "discount_pct": 20.0})
    spec = charts.history_and_forecast(history, forecast, holidays, None, promos).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]  # fmt: skip
    assert marks == ["area", "line", "line", "rule", "tick"]
    band = spec["layer"][0]["encoding"]
    assert band["y"]["field"] == "yhat_lo80" and band["y2"]["field"] == "yhat_hi80"
    assert all(layer["encoding"]["x"]["field"] == "date" for layer in spec["layer"])
    # each layer carries its own rows: 31 days of history, 14 forecast days, 1 holiday, 3 promos
    sizes = sorted(len(v) for v in spec["datasets"].values())
    assert sizes == [1, 3, 14, 31]


def test_bars_compare_models_side_by_side():
    df = pd.DataFrame({"level": ["chain", "chain"], "model": ["selected", "mint_shrink"],
                       "mase": [1.2, 1.0]})  # fmt: skip
    spec = charts.bars(df, "level", "mase", "model").to_dict()
    assert spec["encoding"]["xOffset"]["field"] == "model"
    assert spec["encoding"]["y"]["field"] == "mase"
