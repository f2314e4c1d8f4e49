"""The agents' real tool-use loop, offline: anthropic 2.x with its HTTP layer replaced by an
httpx2.MockTransport that replays Messages API responses (tests/fixtures/agents, in the API's wire
format), against real Postgres tools, events and verdicts."""

from __future__ import annotations

import json

import numpy as np
import psycopg
import pytest

from agents.reviewers import review
from agents.tools import Context, sql
from frycast.settings import Settings
from tests.agents.replay import Replay
from tests.conftest import query, scalar
from warehouse.forecast_store import open_run

SETTINGS = Settings(FRYCAST_AGENT_RETRIES=2, FRYCAST_AGENT_MAX_STEPS=8)


@pytest.fixture
def run_with_bad_data(blank_warehouse):
    """A run whose data-quality results hold one critical failure."""
    run_id = open_run(blank_warehouse, 365, {})
    with psycopg.connect(blank_warehouse) as conn:
        conn.execute(
            """insert into forecast.dq_results
               (run_id, source, check_name, table_name, severity, success, observed) values
               (%s, 'great_expectations',
                'raw_daily_sales.expect_column_max_to_be_between[rows_with_negative_units]',
                'raw.daily_sales', 'critical', false, '1'),
               (%s, 'dbt', 'unique_dim_sku_sku_id', 'dim_sku', 'critical', true, null)""",
            (run_id, run_id),
        )
    return blank_warehouse, run_id


def test_the_loop_runs_tools_survives_errors_and_stores_its_verdict(run_with_bad_data, monkeypatch):
    url, run_id = run_with_bad_data
    # the SDK's backoff, not the test's time
    monkeypatch.setattr("anthropic._base_client.time.sleep", lambda s: None)
    replay = Replay("data_quality_halt.json")
    verdict, _ = review("data_quality", url, run_id, settings=SETTINGS, client=replay.client())

    # the verdict is the model's, validated and stored as a live review
    assert verdict.verdict == "halt" and not verdict.go and not verdict.offline
    stored = query(
        url,
        "select verdict, severity, model, offline, findings from forecast.agent_reviews"
        " where run_id = %s and agent = 'data_quality'",
        (run_id,),
    )[0]
    assert stored[:4] == ("halt", "critical", "claude-opus-4-6", False)
    assert stored[4][0]["title"] == "negative units"

    # every step is in the audit trail, in order
    kinds = [
        k
        for (k,) in query(
            url,
            "select kind from forecast.agent_events where run_id = %s and agent = 'data_quality'"
            " order by seq",
            (run_id,),
        )
    ]
    assert kinds == [
        "rules",  # the deterministic rules always run first: the gate's floor
        "request", "response", "tool_call", "tool_result",  # data_quality_results
        "request", "error", "response", "tool_call", "tool_result",  # 529, retried; bad input
        "request", "response", "tool_call", "tool_result", "tool_call", "tool_result",  # w, r
        "request", "response",  # max_tokens
        "request", "response", "verdict",  # submit_verdict
    ]  # fmt: skip
    results = query(
        url,
        "select payload from forecast.agent_events where run_id = %s and kind = 'tool_result'"
        " order by seq",
        (run_id,),
    )
    first, malformed, write, read = (r[0] for r in results)
    assert not first["is_error"] and "[rows_with_negative_units]" in first["content"]
    assert malformed["is_error"] and "missing ['query'], unknown ['q']" in malformed["content"]
    assert write["is_error"] and "only a SELECT runs here (this is DELETE)" in write["content"]
    assert not read["is_error"] and '"rows": [[2]]' in read["content"]
    assert scalar(url, "select count(*) from forecast.dq_results where run_id = %s", (run_id,)) == 2

    # what the model was sent: tools, adaptive thinking, and tool results (errors flagged)
    first_request = replay.requests[0]
    assert first_request["model"] == "claude-opus-4-6"
    assert first_request["thinking"] == {"type": "adaptive"}
    assert {t["name"] for t in first_request["tools"]} == {
        "data_quality_results", "run_overview", "sql", "submit_verdict"
    }  # fmt: skip
    assert first_request["stream"] is True
    after_bad_input = replay.requests[3]["messages"][-1]["content"][0]
    assert after_bad_input["type"] == "tool_result" and after_bad_input["is_error"] is True
    # a turn cut off at max_tokens is not sent back: the same conversation, with twice the room
    cut, retried = replay.requests[-2], replay.requests[-1]
    assert retried["messages"] == cut["messages"]
    assert retried["max_tokens"] == 2 * cut["max_tokens"]
    # the thinking block went back unchanged, as the API requires
    assert replay.requests[1]["messages"][1]["content"][0]["type"] == "thinking"

    # ...but never stored in the audit trail
    assert (
        scalar(
            url,
            "select count(*) from forecast.agent_events where payload::text like '%%sk-ant%%'",
        )
        == 0
    )


def test_a_refusal_falls_back_to_the_deterministic_reviewer(run_with_bad_data):
    url, run_id = run_with_bad_data
    verdict, _ = review(
        "data_quality", url, run_id, settings=SETTINGS, client=Replay("refusal.json").client()
    )
    assert verdict.verdict == "halt" and verdict.offline
    assert verdict.summary.startswith("the agent did not conclude (refusal")


def test_without_a_key_the_review_says_it_is_deterministic(run_with_bad_data):
    url, run_id = run_with_bad_data
    verdict, _ = review("data_quality", url, run_id, settings=Settings(ANTHROPIC_API_KEY=None))
    assert verdict.verdict == "halt" and verdict.offline
    assert "Deterministic offline review" in verdict.summary
    assert query(
        url,
        "select model, offline from forecast.agent_reviews where run_id = %s",
        (run_id,),
    ) == [("rules", True)]


def test_the_sql_tool_is_read_only_bounded_and_timed(blank_warehouse):
    run_id = open_run(blank_warehouse, 365, {})
    ctx = Context(blank_warehouse, run_id, sql_timeout_ms=200, row_limit=5)
    with pytest.raises(psycopg.errors.QueryCanceled):
        sql(ctx, "select pg_sleep(2)")
    out = sql(ctx, "select g from generate_series(1, 50) as g")
    assert len(out["rows"]) == 5 and out["truncated"]
    assert query(blank_warehouse, "select published from forecast.forecast_runs") == [(False,)]


def test_feature_advice_is_applied_only_from_the_allow_list(blank_warehouse):
    from agents.advice import feature_advice
    from ml.models import build_model
    from tests.ml.synthetic import panel_of

    run_id = open_run(blank_warehouse, 365, {})
    with psycopg.connect(blank_warehouse) as conn:
        conn.execute(
            "update forecast.forecast_runs set status = 'succeeded', published = true"
            " where run_id = %s",
            (run_id,),
        )
        conn.execute(
            """insert into forecast.agent_reviews
               (run_id, agent, verdict, summary, model, offline, recommended_actions)
               values (%s, 'features', 'advise', 'add a 2-week level', 'claude-sonnet-4-6',
                       false, %s)""",
            (
                run_id,
                json.dumps(
                    [
                        {"change": "windows", "value": [14, 9999], "why": "recent level"},
                        {"change": "lags", "value": [1], "why": "yesterday"},
                        "retrain nightly",
                    ]
                ),
            ),
        )
    advice = feature_advice(blank_warehouse)
    assert advice == {
        "lightgbm": {"extra_windows": [14, 9999]},
        "xgboost": {"extra_windows": [14, 9999]},
    }
    # the model keeps the windows inside the allowed range only
    rng = np.random.default_rng(0)
    panel = panel_of(rng.poisson(20, size=(3, 200)), horizon=14)
    model = build_model("lightgbm", max_horizon=14, n_jobs=1, params=advice["lightgbm"]).fit(panel)
    assert "level_14" in model.features_ and "level_9999" not in model.features_
    assert model.predict(14).shape == (3, 14)
