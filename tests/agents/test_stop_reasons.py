"""Every stop reason and odd response of the Messages API, replayed in its wire format (streamed,
as the loop asks) through anthropic's real client: the loop does what the documentation's
stop-reason table says, every request it sends next is one the API accepts, and nothing fails
the run (the rules decide)."""

from __future__ import annotations

import json

import psycopg
import pytest

from agents.loop import ASK_VERDICT, SHRUNK_RESULT_CHARS
from agents.reviewers import review
from frycast.settings import Settings
from tests.agents.replay import (
    Replay,
    assert_valid_conversation,
    final,
    message,
    prose,
    stream_events,
    tool_use,
)
from tests.conftest import query
from warehouse.forecast_store import open_run

SETTINGS = Settings(FRYCAST_AGENT_RETRIES=0, FRYCAST_AGENT_MAX_STEPS=6)
HALT = {
    "verdict": "halt",
    "severity": "critical",
    "summary": "Negative units in the latest load.",
    "findings": [{"title": "negative units", "evidence": "1 unexpected", "severity": "critical"}],
    "recommended_actions": ["Reload the batch after fixing the export."],
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


def _review(run, responses, settings=SETTINGS):
    url, run_id = run
    replay = Replay(responses)
    verdict, _ = review("data_quality", url, run_id, settings=settings, client=replay.client())
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


def _kinds(run):
    url, run_id = run
    return [k for (k,) in query(
        url, "select kind from forecast.agent_events where run_id = %s order by seq", (run_id,)
    )]  # fmt: skip


def test_the_verdict_is_handed_in_through_a_strict_tool_and_ends_the_review(run):
    verdict, replay = _review(run, [tool_use(1, "data_quality_results", {}), final(2, HALT)])
    assert verdict.verdict == "halt" and not verdict.offline
    assert verdict.recommended_actions == HALT["recommended_actions"]
    (tool,) = [t for t in replay.requests[0]["tools"] if t["name"] == "submit_verdict"]
    assert tool["strict"] is True
    assert tool["input_schema"]["properties"]["verdict"]["enum"] == [
        "proceed", "proceed_with_warnings", "halt"
    ]  # fmt: skip
    assert _kinds(run)[-2:] == ["response", "verdict"]  # no tool_result after the verdict


def test_an_invalid_verdict_is_answered_with_why_and_asked_for_again_once(run):
    bad = final(1, {**HALT, "verdict": "maybe"})
    verdict, replay = _review(run, [bad, final(2, HALT)])
    (result,) = replay.requests[1]["messages"][-1]["content"]
    assert result["tool_use_id"] == "toolu_01" and result["is_error"] is True
    assert "verdict: 'maybe' is not one of" in result["content"]
    assert verdict.verdict == "halt" and not verdict.offline


def test_an_invalid_verdict_twice_leaves_the_rules_to_decide(run):
    empty_summary = final(1, {**HALT, "verdict": "proceed", "summary": ""})
    verdict, replay = _review(run, [empty_summary, final(2, {**HALT, "severity": "grave"})])
    assert len(replay.requests) == 2
    assert verdict.offline and "invalid_verdict" in verdict.summary
    assert verdict.verdict == "halt"  # the rules' verdict, not the agent's proceed
    errors = [e["invalid_verdict"] for e in _events(run, "error") if "invalid_verdict" in e]
    assert "summary: '' should be non-empty" in errors[0] and "severity" in errors[1]


def test_a_verdict_in_prose_is_not_parsed_the_tool_is_asked_for(run):
    verdict, replay = _review(run, [prose(1, json.dumps(HALT)), final(2, HALT)])
    sent = replay.requests[1]["messages"]
    assert sent[-2]["role"] == "assistant" and sent[-1] == {"role": "user", "content": ASK_VERDICT}
    assert verdict.verdict == "halt" and not verdict.offline


def test_max_tokens_inside_a_tool_use_asks_again_with_more_room(run):
    cut = message(1, [{"type": "tool_use", "id": "toolu_cut", "name": "data_quality_results",
                       "input": {}}], "max_tokens")  # fmt: skip
    verdict, replay = _review(run, [cut, tool_use(2, "data_quality_results", {}), final(3, HALT)])
    first, again, after_tool = replay.requests
    assert again["messages"] == first["messages"]  # the cut-off turn is not sent back
    assert again["max_tokens"] == 2 * first["max_tokens"]
    assert after_tool["messages"][-1]["content"][0]["tool_use_id"] == "toolu_02"
    assert verdict.verdict == "halt" and not verdict.offline


def test_an_answer_still_cut_off_at_the_ceiling_falls_back(run):
    cut = message(1, [{"type": "thinking", "thinking": "Hmm", "signature": "s"}], "max_tokens")
    verdict, replay = _review(run, [cut, cut, cut])
    assert [r["max_tokens"] for r in replay.requests] == [16000, 32000, 64000]
    assert verdict.offline and "max_tokens: cut off at 64000 tokens" in verdict.summary


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


def _big_result(run):
    """A first step whose tool result is large: the SQL tool's 300 rows of text."""
    query_ = "select repeat('x', 200) as pad, g from generate_series(1, 300) g"
    return tool_use(1, "sql", {"query": query_})


def test_a_full_context_window_shrinks_the_tool_results_and_asks_once_more(run):
    full = message(2, [{"type": "text", "text": "The loads sh"}], "model_context_window_exceeded")
    verdict, replay = _review(run, [_big_result(run), full, final(3, HALT)])
    before, after = (r["messages"][2]["content"][0]["content"] for r in replay.requests[1:])
    assert len(before) > 20_000 and len(after) < SHRUNK_RESULT_CHARS + 300
    assert after.endswith("characters so the conversation fits the context window]\n</data>")
    assert verdict.verdict == "halt" and not verdict.offline


def test_a_second_full_context_window_falls_back(run):
    full = message(2, [{"type": "text", "text": "The loads sh"}], "model_context_window_exceeded")
    full_again = {**full, "body": {**full["body"], "id": "msg_03"}}
    verdict, _ = _review(run, [_big_result(run), full, full_again])
    assert verdict.offline and "context_exceeded" in verdict.summary
    assert verdict.verdict == "halt"  # the rules' verdict


def test_a_prompt_too_long_for_the_window_shrinks_the_tool_results_too(run):
    too_long = _error(400, "invalid_request_error")
    too_long["body"]["error"]["message"] = "prompt is too long: 1000317 tokens > 1000000 maximum"
    verdict, replay = _review(run, [_big_result(run), too_long, final(2, HALT)])
    assert len(replay.requests[2]["messages"][2]["content"][0]["content"]) < 5_000
    assert verdict.verdict == "halt" and not verdict.offline


def _broken(kind: str) -> dict:
    """A 200 whose stream fails after it started."""
    start = stream_events(message(1, [{"type": "text", "text": "Looking"}], "end_turn")["body"])
    events = {
        "error event": [start[0], ("error", {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}})],
        "garbled event": [start[0], ("content_block_start", '{"type": "content_block_st')],
        "cut short": start[:3],
    }[kind]  # fmt: skip
    return {"status": 200, "events": events}


@pytest.mark.parametrize("kind", ["error event", "garbled event", "cut short"])
def test_a_stream_that_breaks_after_its_200_is_asked_again_once(run, kind):
    verdict, replay = _review(run, [_broken(kind), final(2, HALT)])
    assert replay.requests[0] == replay.requests[1]
    assert verdict.verdict == "halt" and not verdict.offline
    assert _events(run, "error")[0]["retried"] is True


def test_a_stream_that_breaks_twice_falls_back(run):
    verdict, _ = _review(run, [_broken("error event"), _broken("cut short")])
    assert verdict.offline and "the stream broke twice" in verdict.summary


@pytest.mark.parametrize(
    ("odd", "asked"),
    [
        ({"status": 200, "text": '{"id": "msg_01", "type": "mess'}, 2),  # not a stream at all
        ({"status": 200, "events": [  # a message that never says what it holds
            ("message_start", {"type": "message_start", "message": {
                "id": "msg_01", "type": "message", "role": "assistant", "model": "m",
                "usage": {"input_tokens": 1, "output_tokens": 1}}}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": {"output_tokens": 2}}),
            ("message_stop", {"type": "message_stop"}),
        ]}, 1),
    ],
    ids=["garbled body", "no content"],
)  # fmt: skip
def test_a_response_the_sdk_cannot_read_falls_back_instead_of_failing_the_run(run, odd, asked):
    verdict, _ = _review(run, [odd] * asked)
    assert verdict.offline and verdict.verdict == "halt"
    assert "api_error" in verdict.summary
    url, run_id = run
    assert query(url, "select model from forecast.agent_reviews where run_id = %s", (run_id,)) == [
        ("rules",)
    ]


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
    assert replay.requests[0]["tools"] == replay.requests[1]["tools"]


def test_each_response_records_what_it_cost_at_the_configured_prices(run):
    priced = final(1, HALT)
    priced["body"]["usage"] = {"input_tokens": 1000, "output_tokens": 2000,
                               "cache_read_input_tokens": 10000,
                               "cache_creation_input_tokens": 4000}  # fmt: skip
    _review(run, [priced])
    # Opus 4.6 at $5 / $25 per million: 1,000 in $0.005, 2,000 out $0.05, 10,000 read from the
    # cache at a tenth $0.005, 4,000 written to it at 1.25 x $0.025
    assert _events(run, "response")[0]["cost_usd"] == pytest.approx(0.085)


def test_a_model_without_a_price_reports_no_cost_not_zero(run):
    _review(run, [final(1, HALT)], Settings(FRYCAST_AGENT_RETRIES=0, FRYCAST_AGENT_PRICES={}))
    assert _events(run, "response")[0]["cost_usd"] is None


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
    """The SDK's waits between retries, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr("anthropic._base_client.time.sleep", waits.append)
    return waits


RETRYING = Settings(FRYCAST_AGENT_RETRIES=2, FRYCAST_AGENT_MAX_STEPS=6)


def test_a_rate_limit_waits_as_long_as_retry_after_says(run, slept):
    verdict, replay = _review(
        run, [_error(429, "rate_limit_error", {"retry-after": "7"}), final(1, HALT)], RETRYING
    )
    assert slept == [7.0] and len(replay.requests) == 2 and not verdict.offline
    (error,) = _events(run, "error")
    assert error["retry_after"] == 7.0 and error["retried"] is True and error["status"] == 429
    assert error["request_id"] == "req_01"


def test_overloaded_is_retried_with_the_sdks_backoff_and_each_attempt_is_logged(run, slept):
    overloaded = _error(529, "overloaded_error")
    verdict, replay = _review(run, [overloaded, overloaded, final(1, HALT)], RETRYING)
    assert len(replay.requests) == 3 and not verdict.offline
    # the SDK's exponential backoff with jitter: 0.5 s then 1 s, each less up to a quarter
    assert 0.375 <= slept[0] <= 0.5 and 0.75 <= slept[1] <= 1.0
    assert [(e["attempt"], e["type"]) for e in _events(run, "error")] == [
        (0, "overloaded_error"), (1, "overloaded_error")
    ]  # fmt: skip
    assert _kinds(run)[:5] == ["rules", "request", "error", "error", "response"]


def test_retries_run_out_and_the_rules_decide(run, slept):
    overloaded = _error(529, "overloaded_error")
    verdict, _ = _review(run, [overloaded] * 3, RETRYING)
    assert verdict.offline and "api_error" in verdict.summary and verdict.verdict == "halt"
    assert [e["retried"] for e in _events(run, "error")] == [True, True, False]


def test_a_spend_cap_is_not_retried(run, slept):
    cap = _error(429, "rate_limit_error", {"retry-after": "5"},
                 {"error_code": "enforced_spend_limit_reached"})  # fmt: skip
    verdict, replay = _review(run, [cap], RETRYING)
    assert slept == [] and len(replay.requests) == 1
    assert verdict.offline and "api_error" in verdict.summary
    (error,) = _events(run, "error")
    assert error["retried"] is False and error["spend_cap"] is True


def test_a_retry_after_longer_than_a_minute_is_not_waited_out(run, slept):
    verdict, replay = _review(
        run, [_error(429, "rate_limit_error", {"retry-after": "3600"})], RETRYING
    )
    assert slept == [] and len(replay.requests) == 1 and verdict.offline


def test_x_should_retry_overrides_the_status(run, slept):
    no = _error(500, "api_error", {"x-should-retry": "false"})
    verdict, replay = _review(run, [no], RETRYING)
    assert slept == [] and len(replay.requests) == 1 and verdict.offline


def test_x_should_retry_true_retries_a_status_that_is_not_retried_otherwise(run, slept):
    yes = _error(400, "invalid_request_error", {"x-should-retry": "true"})
    verdict, replay = _review(run, [yes, final(1, HALT)], RETRYING)
    assert len(slept) == 1 and len(replay.requests) == 2 and not verdict.offline


def test_a_connection_that_fails_is_retried_and_logged(run, slept):
    import httpx2

    dropped = {"raise": httpx2.ConnectError("connection reset by peer")}
    verdict, replay = _review(run, [dropped, final(1, HALT)], RETRYING)
    assert len(replay.requests) == 2 and not verdict.offline
    (error,) = _events(run, "error")
    assert "APIConnectionError" in error["error"] and error["retried"] is True
