"""Where a run's backtest errors sit: sums by horizon bucket, weekday, holiday and promotion,
checked on a hand-worked example and on a real reconciled run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.engine import EngineConfig
from ml.error_patterns import error_patterns, panel_known
from ml.hierarchical import run_hierarchical

NAN = np.nan


def _hand_worked() -> pd.DataFrame:
    # 7 history days from Monday 2024-01-01 (origin: index 6), then 8 test days: Monday 8th to
    # Monday 15th. Two nodes: node 0 at level "a", node 1 at level "b".
    dates = pd.date_range("2024-01-01", periods=15, freq="D")
    actual = np.array([[
        [10, 10, 10, 10, 10, 10, 10, 10],  # node 0 sells 10 a day
        [4, 0, 4, 4, 4, 4, 4, NAN],  # node 1: no actual on the last day
    ]], dtype=float)  # fmt: skip
    served = np.array([[
        [12, 12, NAN, 12, 12, 12, 12, 12],  # not scored on Wednesday 10th
        [5, 1, 5, 5, 5, 5, 5, 5],
    ]], dtype=float)  # fmt: skip
    snaive = np.array([[[9] * 8, [4] * 8]], dtype=float)
    scales = np.array([[2.0, 0.5]])
    holiday = np.zeros((2, 15))
    holiday[:, 8] = 1  # Tuesday 9th (test day 2) is a holiday
    discount = np.zeros((2, 15))
    discount[1] = 0.2  # node 1 is always on promotion

    def known(name: str, days: np.ndarray):
        return {"is_holiday": holiday, "discount_pct": discount}[name][:, days]

    return error_patterns(
        actual,
        {"served": served, "snaive": snaive},
        scales,
        {"a": np.array([0]), "b": np.array([1])},
        dates,
        [6],
        known,
    ).set_index(["level", "model", "dimension", "bucket"])


def test_sums_per_bucket_match_a_hand_worked_example():
    p = _hand_worked()
    cols = ["n_obs", "n_nodes", "actual_units", "abs_error", "bias", "scaled_error"]
    # node 0: days 1-7 less Wednesday (not served, so no model's) = 6 cells of +2, scale 2
    assert p.loc[("a", "served", "horizon", "1-7"), cols].tolist() == [6, 1, 60, 12, 12, 6]
    assert p.loc[("a", "served", "horizon", "8-28"), cols].tolist() == [1, 1, 10, 2, 2, 1]
    # seasonal naive on exactly the same cells: 6 cells of -1
    assert p.loc[("a", "snaive", "horizon", "1-7"), cols].tolist() == [6, 1, 60, 6, -6, 3]
    # weekdays: two Mondays (8th, 15th), and no Wednesday row at all
    assert p.loc[("a", "served", "weekday", "Mon"), "n_obs"] == 2
    assert ("a", "served", "weekday", "Wed") not in p.index
    # the holiday (Tuesday 9th) and the ordinary days
    assert p.loc[("a", "served", "holiday", "holiday"), cols].tolist() == [1, 1, 10, 2, 2, 1]
    assert p.loc[("a", "served", "holiday", "other day"), "n_obs"] == 6
    # node 1: always on promotion, 7 days with an actual (28 units), +1 a day, scale 0.5
    assert p.loc[("b", "served", "promotion", "promotion"), cols].tolist() == [7, 1, 24, 7, 7, 14]
    assert ("b", "served", "promotion", "no promotion") not in p.index
    assert ("a", "served", "promotion", "no promotion") in p.index


def test_every_dimension_covers_the_same_cells():
    p = _hand_worked().reset_index()
    totals = p.groupby(["level", "model", "dimension"])[["n_obs", "abs_error", "bias"]].sum()
    for (_level, _model), per_dim in totals.groupby(level=[0, 1]):
        assert (per_dim.nunique() == 1).all(), per_dim


CONFIG = EngineConfig(
    horizon=28, folds=3, fold_horizon=28, models=("snaive", "weekday_mean", "ets"), n_jobs=1
)


@pytest.fixture(scope="module")
def reconciled(tiny_panel):
    return tiny_panel, run_hierarchical(tiny_panel, CONFIG, reconciler="mint_shrink")


def test_a_reconciled_run_records_patterns_for_every_level_and_compared_model(reconciled):
    _, result = reconciled
    p = result.patterns
    levels = set(result.hierarchy.nodes["level"])
    assert set(p.level) == levels
    assert set(p.model) == {"mint_shrink", "selected", "snaive"}
    assert set(p.dimension) == {"horizon", "weekday", "holiday", "promotion"}
    # the three models are compared on the same node-days
    cells = p.groupby(["level", "dimension", "bucket"]).n_obs.nunique()
    assert (cells == 1).all()
    # a real calendar: the generated chain has holidays and promotions in its backtest windows
    assert (p.dimension.eq("holiday") & p.bucket.eq("holiday")).any()
    assert (p.dimension.eq("promotion") & p.bucket.eq("promotion")).any()


def test_the_bottom_levels_sums_are_the_served_backtests_own(reconciled):
    panel, result = reconciled
    bt = result.bottom.backtest
    point = result.bottom.served_backtest[0]
    bottom = result.patterns.query("level == 'restaurant_sku' and dimension == 'horizon'")
    got = bottom.groupby("model")[["n_obs", "abs_error", "bias", "scaled_error"]].sum()
    snaive = bt.predictions["snaive"] * (1 if bt.p_open is None else bt.p_open)
    ok = np.isfinite(bt.scored_actuals) & np.isfinite(point) & np.isfinite(snaive)
    error = np.where(ok, point - bt.scored_actuals, 0.0)
    assert got.loc["selected", "n_obs"] == ok.sum()
    assert got.loc["selected", "abs_error"] == pytest.approx(np.abs(error).sum())
    assert got.loc["selected", "bias"] == pytest.approx(error.sum())
    scaled = np.abs(error) / bt.scales[:, :, None]
    assert got.loc["selected", "scaled_error"] == pytest.approx(np.where(ok, scaled, 0).sum())
    # and the pooled MASE is near the mean per-series MASE the run reports for 'selected'
    pooled = got.loc["selected", "scaled_error"] / got.loc["selected", "n_obs"]
    reported = result.metrics.query("level == 'restaurant_sku' and model == 'selected'").mase
    assert pooled == pytest.approx(reported.mean(), rel=0.25)


def test_known_features_stack_in_the_order_of_the_nodes(tiny_panel):
    known = panel_known(tiny_panel, tiny_panel)
    days = np.arange(10, 20)
    both = known("is_holiday", days)
    assert both.shape == (2 * tiny_panel.n_series, 10)
    assert np.array_equal(both[: tiny_panel.n_series], tiny_panel.known["is_holiday"][:, days])
    assert known("no_such_feature", days) is None
