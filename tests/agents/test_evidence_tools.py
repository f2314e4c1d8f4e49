"""The evidence a reviewer needs, from the tools, on runs written through the real forecast
store: the run at a glance with the gate's facts and thresholds, accuracy by level and horizon
against seasonal naive and the last published run, and where the errors sit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agents.reviewers import review
from agents.rules import BASELINE_SLACK
from agents.tools import ALL_TOOLS, Context, call
from frycast.settings import Settings
from ml.error_patterns import PATTERN_COLUMNS
from tests.agents.replay import Replay, assert_valid_conversation, final, message
from tests.agents.runs import write_run


def _patterns(mase_served: float, rows: list[tuple] | None = None) -> pd.DataFrame:
    """Error sums: 100 node-days per bucket; MASE = scaled_error / n_obs."""
    base = [
        # level, model, dimension, bucket, order, n_obs, nodes, units, |e|, bias, scaled
        ("chain", "mint_shrink", "horizon", "1-7", 0, 100, 1, 1000.0, 50.0, -10.0, 100 * 0.4),
        ("chain", "snaive", "horizon", "1-7", 0, 100, 1, 1000.0, 90.0, 20.0, 100 * 0.7),
        ("restaurant_sku", "mint_shrink", "horizon", "1-7", 0, 100, 4, 400.0, 100.0, 8.0,
         100 * mase_served),
        ("restaurant_sku", "snaive", "horizon", "1-7", 0, 100, 4, 400.0, 120.0, 4.0, 100 * 1.0),
        ("restaurant_sku", "mint_shrink", "horizon", "8-28", 1, 100, 4, 400.0, 140.0, -4.0,
         100 * (mase_served + 0.2)),
        ("restaurant_sku", "snaive", "horizon", "8-28", 1, 100, 4, 400.0, 130.0, 4.0, 100.0),
    ]  # fmt: skip
    return pd.DataFrame(base + (rows or []), columns=PATTERN_COLUMNS)


HOLIDAYS = [
    # holidays under-forecast by a third; ordinary days nearly unbiased
    ("restaurant_sku", "mint_shrink", "holiday", "holiday", 0, 10, 4, 60.0, 20.0, -20.0, 30.0),
    ("restaurant_sku", "snaive", "holiday", "holiday", 0, 10, 4, 60.0, 25.0, -15.0, 35.0),
    ("restaurant_sku", "mint_shrink", "holiday", "other day", 1, 190, 4, 740.0, 220.0, 2.0, 130.0),
    ("restaurant_sku", "snaive", "holiday", "other day", 1, 190, 4, 740.0, 225.0, 9.0, 165.0),
]  # fmt: skip


@pytest.fixture
def runs(blank_warehouse):
    """A published run, then the run under review (mint_shrink served in both)."""
    url = blank_warehouse
    previous = write_run(url, seed=1, publish=True, patterns=_patterns(0.9))
    run_id = write_run(url, seed=2, patterns=_patterns(0.6, HOLIDAYS))
    return url, previous, run_id


def _call(url, run_id, tool, args=None, **limits):
    ctx = Context(url, run_id, **limits)
    return json.loads(call(ALL_TOOLS[tool], ctx, args or {}))


def test_accuracy_by_horizon_sets_each_bucket_beside_seasonal_naive_and_the_last_run(runs):
    url, previous, run_id = runs
    out = _call(url, run_id, "accuracy_by_horizon")
    assert out["served_model"] == "mint_shrink" and out["previous_published_run"] == previous
    rows = [dict(zip(out["columns"], r, strict=True)) for r in out["rows"]]
    # the hierarchy's order: chain first, the bottom last; buckets in horizon order
    assert [(r["level"], r["horizon_days"]) for r in rows] == [
        ("chain", "1-7"), ("restaurant_sku", "1-7"), ("restaurant_sku", "8-28")
    ]  # fmt: skip
    chain, bottom_week, bottom_month = rows
    assert (chain["mase"], chain["snaive_mase"]) == (0.4, 0.7)
    assert (chain["wape"], chain["bias_share"]) == (0.05, -0.01)
    assert (bottom_week["mase"], bottom_week["previous_published_mase"]) == (0.6, 0.9)
    assert (bottom_month["mase"], bottom_month["snaive_mase"]) == (0.8, 1.0)
    assert bottom_week["node_days"] == 100 and bottom_week["nodes"] == 4
    only = _call(url, run_id, "accuracy_by_horizon", {"level": "chain"})
    assert len(only["rows"]) == 1


def test_a_run_without_patterns_says_so(blank_warehouse):
    run_id = write_run(blank_warehouse)
    out = _call(blank_warehouse, run_id, "accuracy_by_horizon")
    assert out["rows"] == [] and "no error patterns" in out["note"]


def test_residual_patterns_put_the_most_biased_bucket_first(runs):
    url, _, run_id = runs
    out = _call(url, run_id, "residual_patterns", {"level": "restaurant_sku"})
    rows = [dict(zip(out["columns"], r, strict=True)) for r in out["rows"]]
    first = rows[0]
    assert (first["dimension"], first["bucket"]) == ("holiday", "holiday")
    assert first["bias_share"] == pytest.approx(-0.333, abs=1e-3)
    assert first["share_of_units"] == pytest.approx(60 / 800, abs=1e-3)
    assert first["snaive_mase"] == 3.5
    # the level overall, from every cell (the horizon buckets cover them all)
    assert out["overall"] == {"node_days": 200, "mase": 0.7, "wape": 0.3, "bias_share": 0.005}
    holidays = _call(
        url, run_id, "residual_patterns", {"level": "restaurant_sku", "dimension": "holiday"}
    )
    assert {r[0] for r in holidays["rows"]} == {"holiday"}


def test_the_run_overview_shows_what_serves_the_data_quality_and_the_gate(runs):
    url, previous, run_id = runs
    ctx = Context(url, run_id, rules={"verdict": "publish", "facts": {"bottom_mase": 0.8}})
    out = json.loads(call(ALL_TOOLS["run_overview"], ctx, {}))
    assert out["run"]["run_id"] == run_id and out["run"]["status"] == "succeeded"
    assert out["run"]["evaluation"]["out_of_sample"] is True
    assert out["served_model_name"] == "mint_shrink"
    assert out["previous_published_run"]["run_id"] == previous
    segments = [dict(zip(out["served_by_segment"]["columns"], r, strict=True))
                for r in out["served_by_segment"]["rows"]]  # fmt: skip
    assert segments[0] == {
        "level": "restaurant_sku", "segment": "smooth", "model": "ets", "nodes": 3,
        "mean_backtest_mase": 0.8,
    }  # fmt: skip
    assert segments[1]["model"] == "tsb"  # the biggest segment first
    assert out["data_quality"] == {"checks": 0, "failed": 0, "failed_critical": 0}
    assert out["gate"]["rules"]["facts"]["bottom_mase"] == 0.8
    assert out["gate"]["thresholds"]["bottom_mase_at_most_x_seasonal_naive"] == BASELINE_SLACK


def test_tool_outputs_stay_within_the_byte_limit_and_say_when_cut(runs):
    url, _, run_id = runs
    for tool, args in [("residual_patterns", {"level": "restaurant_sku"}),
                       ("accuracy_by_horizon", {}), ("run_overview", {})]:  # fmt: skip
        text = call(ALL_TOOLS[tool], Context(url, run_id, byte_limit=400), args)
        assert len(text) < 2_000, tool  # the byte limit bounds the rows; notes come on top
    cut = _call(url, run_id, "residual_patterns", {"level": "restaurant_sku"}, row_limit=1)
    assert cut["truncated"] is True and [r[:2] for r in cut["rows"]] == [["holiday", "holiday"]]


def test_a_metric_review_reads_the_evidence_and_the_rules_facts(runs, monkeypatch):
    # GIVEN a model that looks at the run and its accuracy by horizon, then hands in a verdict
    url, _, run_id = runs
    calls = [
        {"type": "tool_use", "id": "toolu_01", "name": "run_overview", "input": {}},
        {"type": "tool_use", "id": "toolu_02", "name": "accuracy_by_horizon", "input": {}},
    ]
    verdict = {
        "verdict": "publish",
        "severity": "info",
        "summary": "Beats seasonal naive at every level and horizon.",
        "findings": [{"title": "bottom 1-7", "evidence": "MASE 0.6 vs 1.0", "severity": "info"}],
        "recommended_actions": [],
    }
    replay = Replay([message(1, calls, "tool_use"), final(2, verdict)])
    # WHEN the metric reviewer runs
    got, _ = review(
        "metrics", url, run_id, settings=Settings(FRYCAST_AGENT_RETRIES=0), client=replay.client()
    )
    # THEN the model was offered the evidence tools and got both results, with the rules' facts
    for request in replay.requests:
        assert_valid_conversation(request)
    names = {t["name"] for t in replay.requests[0]["tools"]}
    assert {"run_overview", "accuracy_by_horizon", "residual_patterns"} <= names
    overview, accuracy = replay.requests[1]["messages"][-1]["content"]
    assert not overview.get("is_error") and not accuracy.get("is_error")
    assert '"bottom_mase": 0.8' in overview["content"]
    assert '"bottom_coverage_80_range": [0.6, 0.95]' in overview["content"]
    assert '["restaurant_sku", "1-7", 4, 100, 0.6' in accuracy["content"]
    assert got.verdict == "publish" and not got.offline
