"""Every stop reason and odd response of the Messages API, replayed in its wire format through
anthropic's real client: the loop does what the documentation's stop-reason table says, every
request it sends next is one the API accepts, and nothing fails the run (the rules decide)."""

from __future__ import annotations

import json

import psycopg
import pytest

from agents.loop import ASK_VERDICT
from agents.reviewers import review
from frycast.settings import Settings
from tests.agents.replay import Replay, assert_valid_conversation, final, message, tool_use
from tests.conftest import query
from warehouse.forecast_store import open_run

SETTINGS = Settings(FRYCAST_AGENT_RETRIES=0, FRYCAST_AGENT_MAX_STEPS=6)
HALT = {
    "verdict": "halt",
    "severity": "critical",
    "summary": "Negative units in the latest load.",
    "findings": [{"title": "negative units", "evidence": "1 unexpected"}],
    "recommended_actions": [],
}


@pytest.fixture
def run(blank_warehouse):
    run_id = open_run(blank_warehouse, 28, {})
    with psycopg.connect(blank_warehouse) as conn:
        conn.execute(
            """insert into forecast.dq_results
               (run_id, source, check_name, table_name, severity, success, observed)
               values (%s, 'great_expectations', 'units_not_negative', 'raw.daily_sales',
                       'critical', false, '1 unexpected')""",
            (run_id,),
        )
    return blank_warehouse, run_id


def _review(run, responses):
    url, run_id = run
    replay = Replay(responses)
    verdict, _ = review("data_quality", url, run_id, settings=SETTINGS, client=replay.client())
    for request in replay.requests:
        assert_valid_conversation(request)
    assert not replay.responses, "every replayed response was asked for"
    return verdict, replay


def _events(run, kind):
    url, run_id = run
    return [p for (p,) in query(
        url, "select payload from forecast.agent_events where run_id = %s and kind = %s"
        " order by seq", (run_id, kind),
    )]  # fmt: skip


def test_max_tokens_inside_a_tool_use_asks_again_with_more_room(run):
    cut = message(1, [{"type": "tool_use", "id": "toolu_cut", "name": "data_quality_results",
                       "input": {}}], "max_tokens")  # fmt: skip
    verdict, replay = _review(run, [cut, tool_use(2, "data_quality_results", {}), final(3, HALT)])
    first, again, after_tool = replay.requests
    assert again["messages"] == first["messages"]  # the cut-off turn is not sent back
    assert again["max_tokens"] == 2 * first["max_tokens"]
    assert after_tool["messages"][-1]["content"][0]["tool_use_id"] == "toolu_02"
    assert verdict.verdict == "halt" and not verdict.offline


def test_an_answer_still_cut_off_with_twice_the_room_falls_back(run):
    cut = message(1, [{"type": "text", "text": '{"verdict": "ha'}], "max_tokens")
    verdict, replay = _review(run, [cut, cut])
    assert [r["max_tokens"] for r in replay.requests] == [8000, 16000]
    assert verdict.offline and "max_tokens: cut off at 16000 tokens" in verdict.summary


def test_an_empty_end_turn_is_not_sent_back_and_the_verdict_is_asked_for(run):
    verdict, replay = _review(
        run, [tool_use(1, "data_quality_results", {}), message(2, [], "end_turn"), final(3, HALT)]
    )
    last = replay.requests[-1]["messages"]
    assert last[-1] == {"role": "user", "content": ASK_VERDICT}
    assert last[-2]["role"] == "user"  # the tool results, then the question: no empty turn
    assert verdict.verdict == "halt" and not verdict.offline


def test_a_paused_turn_is_sent_back_as_it_came_to_continue(run):
    paused = message(1, [{"type": "text", "text": "Checking the loads first."}], "pause_turn")
    verdict, replay = _review(run, [paused, final(2, HALT)])
    sent = replay.requests[1]["messages"]
    assert sent[-1] == {"role": "assistant", "content": paused["body"]["content"]}
    assert verdict.verdict == "halt" and not verdict.offline


def test_a_refusal_falls_back_and_keeps_its_details(run):
    refusal = message(1, [], "refusal")
    refusal["body"]["stop_details"] = {"type": "refusal", "category": "cyber"}
    verdict, _ = _review(run, [refusal])
    assert verdict.offline and verdict.summary.startswith("the agent did not conclude (refusal")
    assert _events(run, "response")[0]["stop_details"]["category"] == "cyber"


def test_a_full_context_window_is_a_truncated_answer_and_falls_back(run):
    full = message(
        1, [{"type": "text", "text": '{"verdict": "pro'}], "model_context_window_exceeded"
    )
    verdict, _ = _review(run, [full])
    assert verdict.offline and "context_exceeded" in verdict.summary
    assert verdict.verdict == "halt"  # the rules' verdict


@pytest.mark.parametrize(
    "odd",
    [
        {"status": 200, "text": '{"id": "msg_01", "type": "mess'},  # garbled body
        {"status": 200, "body": {"id": "msg_01", "type": "message", "role": "assistant"}},
    ],
    ids=["garbled body", "no content"],
)
def test_a_response_the_sdk_cannot_read_falls_back_instead_of_failing_the_run(run, odd):
    verdict, _ = _review(run, [odd])
    assert verdict.offline and verdict.verdict == "halt"
    assert "api_error" in verdict.summary
    url, run_id = run
    assert query(url, "select model from forecast.agent_reviews where run_id = %s", (run_id,)) == [
        ("rules",)
    ]


def test_an_invalid_verdict_is_asked_for_again_once_then_the_rules_decide(run):
    bad = message(1, [{"type": "text", "text": json.dumps({"verdict": "maybe"})}], "end_turn")
    verdict, replay = _review(run, [bad, {**bad, "body": {**bad["body"], "id": "msg_02"}}])
    assert len(replay.requests) == 2
    assert (
        "Answer again with only the verdict JSON" in replay.requests[1]["messages"][-1]["content"]
    )
    assert verdict.offline and "invalid_verdict" in verdict.summary
    assert len([e for e in _events(run, "error") if "invalid_verdict" in e]) == 2


def test_the_assistant_turn_goes_back_exactly_as_it_was_received(run):
    # a field this SDK version does not model (a newer API's) and a thinking signature: both go
    # back verbatim, not re-serialised through the SDK's types
    blocks = [
        {"type": "thinking", "thinking": "Check the loads.", "signature": "sig==",
         "future_field": {"kept": True}},
        {"type": "tool_use", "id": "toolu_01", "name": "data_quality_results", "input": {},
         "caller": {"type": "direct"}},
    ]  # fmt: skip
    _, replay = _review(run, [message(1, blocks, "tool_use"), final(2, HALT)])
    assert replay.requests[1]["messages"][1] == {"role": "assistant", "content": blocks}


def test_tools_and_system_prompt_are_cached_across_a_reviews_steps(run):
    _, replay = _review(run, [tool_use(1, "data_quality_results", {}), final(2, HALT)])
    for request in replay.requests:
        (system,) = request["system"]
        assert system["cache_control"] == {"type": "ephemeral"} and "data-quality" in system["text"]
    assert replay.requests[0]["system"] == replay.requests[1]["system"]  # the same prefix


def test_a_review_stops_asking_once_the_runs_token_budget_is_spent(run):
    # each replayed response reports ~1,050 tokens; a 1,500-token budget allows a second request
    # (1,051 spent) and no third (2,103 spent): the rules decide
    url, run_id = run
    replay = Replay(
        [tool_use(1, "data_quality_results", {}), tool_use(2, "data_quality_results", {}),
         final(3, HALT)]
    )  # fmt: skip
    budget = Settings(FRYCAST_AGENT_RETRIES=0, FRYCAST_AGENT_RUN_TOKEN_BUDGET=1500)
    verdict, _ = review("data_quality", url, run_id, settings=budget, client=replay.client())
    assert len(replay.requests) == 2 and verdict.offline
    assert "budget is spent" in verdict.summary and verdict.verdict == "halt"
    # AND the next review of the same run asks nothing at all
    again = Replay([final(1, HALT)])
    verdict, _ = review("data_quality", url, run_id, settings=budget, client=again.client())
    assert again.requests == [] and verdict.offline
    assert "agent token budget (1,500) is spent" in verdict.summary


def _error(status: int, kind: str, headers: dict | None = None, details: dict | None = None):
    error = {"type": kind, "message": kind.replace("_", " ")}
    if details:
        error["details"] = details
    return {"status": status, "body": {"type": "error", "error": error}, "headers": headers or {}}


@pytest.fixture
def slept(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("agents.loop.time.sleep", waits.append)
    return waits


def _retrying(run, responses):
    url, run_id = run
    replay = Replay(responses)
    settings = Settings(FRYCAST_AGENT_RETRIES=2, FRYCAST_AGENT_MAX_STEPS=6)
    verdict, _ = review("data_quality", url, run_id, settings=settings, client=replay.client())
    return verdict, replay


def test_a_rate_limit_waits_as_long_as_retry_after_says(run, slept):
    verdict, replay = _retrying(
        run, [_error(429, "rate_limit_error", {"retry-after": "7"}), final(1, HALT)]
    )
    assert slept == [7.0] and len(replay.requests) == 2 and not verdict.offline
    assert _events(run, "error")[0]["retry_after"] == 7.0


def test_a_spend_cap_is_not_retried(run, slept):
    cap = _error(429, "rate_limit_error", {"retry-after": "5"},
                 {"error_code": "enforced_spend_limit_reached"})  # fmt: skip
    verdict, replay = _retrying(run, [cap])
    assert slept == [] and len(replay.requests) == 1
    assert verdict.offline and "api_error" in verdict.summary
    assert _events(run, "error")[0]["retried"] is False


def test_x_should_retry_overrides_the_status(run, slept):
    no = _error(500, "api_error", {"x-should-retry": "false"})
    verdict, replay = _retrying(run, [no])
    assert slept == [] and len(replay.requests) == 1 and verdict.offline
    yes = _error(409, "conflict_error", {"x-should-retry": "true"})
    verdict, replay = _retrying(run, [yes, final(1, HALT)])
    assert slept == [1.0] and len(replay.requests) == 2 and not verdict.offline
