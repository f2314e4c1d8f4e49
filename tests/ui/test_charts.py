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


def test_a_week_grain_chart_drops_the_band_circles_cut_weeks_and_draws_last_year():
    from streamlit_app import tables

    days = pd.date_range("2026-01-01", periods=20)
    history = pd.DataFrame({"date": pd.date_range("2025-12-03", "2025-12-31"), "units": 10.0})
    forecast = pd.DataFrame({"date": days, "yhat": 12.0, "yhat_lo80": 8.0, "yhat_hi80": 16.0})
    actuals = pd.DataFrame({"date": days - pd.Timedelta(days=364), "units": 9.0})
    table = tables.explorer_table(forecast, actuals, "Week")
    weeks = tables.by_grain(history, "Week", ["units"])
    spec = charts.history_and_forecast(weeks, table, per="week").to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]  # fmt: skip
    assert marks == ["line", "line", "line", "point"]  # no area: no band at week grain
    assert spec["layer"][0]["encoding"]["y"]["title"] == "units per week"
    assert spec["layer"][2]["encoding"]["y"]["field"] == "units_last_year"
    # circled: the cut first and last week of the history and of the forecast
    circled = spec["datasets"][spec["layer"][3]["data"]["name"]]
    assert len(circled) == int(weeks["partial"].sum() + table["partial"].sum()) == 4


def test_the_time_axis_names_years_and_tooltips_use_the_tables_headers_and_rounding():
    history = pd.DataFrame({"date": pd.date_range("2025-12-01", periods=31), "units": 10.0})
    forecast = pd.DataFrame(
        {"date": pd.date_range("2026-01-01", periods=14), "yhat": 1234.5678,
         "yhat_lo80": 1000.25, "yhat_hi80": 1500.75}
    )  # fmt: skip
    spec = charts.history_and_forecast(history, forecast).to_dict()
    for layer in spec["layer"]:
        x = layer["encoding"]["x"]
        assert x["axis"]["format"] == "%b %Y"  # "Jan 2026", never a month without its year
    tips = {t["field"]: t for t in spec["layer"][2]["encoding"]["tooltip"]}
    assert tips["date"]["format"] == "%a %d %b %Y"
    assert (tips["yhat"]["title"], tips["yhat"]["format"]) == ("forecast (units)", ",.0f")
    assert tips["yhat_lo80"]["title"] == "low (80 %)"
    bars = charts.bars(
        pd.DataFrame({"node_key": ["North"], "next_12_months": [1234567.8]}),
        "node_key",
        "next_12_months",
    ).to_dict()
    assert bars["encoding"]["y"]["title"] == "next 12 months (units)"
    assert {t["title"] for t in bars["encoding"]["tooltip"]} == {"code", "next 12 months (units)"}
