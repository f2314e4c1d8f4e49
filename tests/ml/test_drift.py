"""Drift statistics on hand-made arrays: a tripled series drifts, for the reasons a planner
would give; the same series selling as forecast does not; a distribution shift alone, with the
forecast still right, is noted but is not drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.drift import drift_table, node_drift, psi

RNG = np.random.default_rng(0)
HISTORY = RNG.poisson(20, 365).astype(float)
FORECAST = np.full(28, 20.0)
LO, HI = np.full(28, 14.0), np.full(28, 26.0)


def test_a_tripled_series_drifts_on_error_bias_and_coverage():
    actual = 3 * RNG.poisson(20, 28).astype(float)
    d = node_drift(actual, FORECAST, LO, HI, HISTORY, scale=5.0, backtest_mase=0.8)
    assert d.drifted and d.n_days == 28
    assert d.error_ratio > 5 and d.bias > 0.6 and d.coverage_80 == 0.0
    for reason in ("error", "bias", "interval covers 0%"):
        assert reason in d.reasons


def test_a_series_selling_as_forecast_does_not_drift():
    actual = RNG.poisson(20, 28).astype(float)
    d = node_drift(actual, FORECAST, LO, HI, HISTORY, scale=5.0, backtest_mase=0.8)
    assert not d.drifted and d.reasons is None
    assert 0.5 < d.error_ratio < 1.5 and d.coverage_80 > 0.6


def test_few_new_days_are_measured_but_never_called_drift():
    actual = np.array([60.0, 60.0, np.nan, 60.0])
    d = node_drift(actual, FORECAST[:4], LO[:4], HI[:4], HISTORY, 5.0, 0.8)
    assert d.n_days == 3 and d.error_ratio > 5 and not d.drifted
    assert node_drift(np.full(4, np.nan), FORECAST[:4], LO[:4], HI[:4], HISTORY, 5.0, 0.8) is None


def test_psi_is_zero_on_the_same_distribution_and_large_on_a_moved_one():
    assert psi(HISTORY, HISTORY) < 1e-9
    assert psi(HISTORY, HISTORY + 30) > 1.0


def test_the_table_has_a_row_per_node_in_the_hierarchy():
    days = pd.date_range("2025-01-01", periods=28).date
    served = pd.concat(
        pd.DataFrame(
            {
                "level": "restaurant_sku",
                "node_key": key,
                "forecast_date": days,
                "yhat": FORECAST,
                "yhat_lo80": LO,
                "yhat_hi80": HI,
                "actual": actual,
            }
        )  # fmt: skip
        for key, actual in (("R1/A", 3 * FORECAST), ("R1/B", FORECAST), ("R1/gone", FORECAST))
    )
    known = {("restaurant_sku", "R1/A"), ("restaurant_sku", "R1/B")}
    table = drift_table(
        served, {k: HISTORY for k in known}, {k: 5.0 for k in known}, {k: 0.8 for k in known}
    )
    assert list(table["node_key"]) == ["R1/A", "R1/B"]  # an item gone from the hierarchy is left
    assert list(table["drifted"]) == [True, False]
    assert (table["window_start"] == days[0]).all() and (table["window_end"] == days[-1]).all()
