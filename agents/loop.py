"""The manual tool-use loop on the Anthropic Messages API.

Send the conversation with the role's tool schemas; run every ``tool_use`` block with its Python
tool and answer with ``tool_result`` blocks (``is_error`` when the tool failed or its input was
malformed); repeat until the model ends its turn with a verdict, or the step limit. Every request,
response, tool call and result goes to the event log.

Stop reasons as the documentation's table says ("Stop reasons and fallback",
platform.claude.com/docs/en/build-with-claude/handling-stop-reasons): ``max_tokens`` → the same
request again with more room (a cut-off turn is never sent back: a ``tool_use`` without its
``tool_result`` is a 400); ``pause_turn`` → the assistant content sent back to continue;
``refusal`` → fall back, ``stop_details`` logged; ``model_context_window_exceeded`` → the answer
is truncated: fall back; an empty ``end_turn`` → no empty assistant message (also a 400), a
user turn asks for the verdict. API errors are retried with backoff; any other failure of a
call (a garbled body, a response without content) ends the loop as ``api_error``, so the caller
falls back to the rules and the run goes on. An invalid verdict is asked for again once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anthropic

from agents.events import EventLog, kept_result, usage_tokens
from agents.schema import parse_verdict
from agents.tools import Context, Tool, call

RETRYABLE = (anthropic.APIConnectionError, anthropic.APITimeoutError, anthropic.RateLimitError)


@dataclass
class LoopResult:
    verdict: dict | None  # None: the agent did not conclude (the caller falls back)
    # end_turn, refusal, context_exceeded, max_tokens, invalid_verdict, step_limit, api_error
    stop: str
    steps: int
    note: str = ""


def _create(client, log: EventLog, retries: int, **request):
    """The raw response (``with_raw_response``): its ``content`` goes back in the next request
    exactly as it was received (thinking signatures, fields this SDK version does not model),
    as the tool-use documentation asks, instead of a re-serialised copy.

    Retries follow the API's errors page: 429 and 5xx (529 overloaded) are retried after the
    ``retry-after`` the response gives (capped), else with exponential backoff; ``x-should-retry``
    overrides the status either way; a 429 for the organisation's spend cap
    (``enforced_spend_limit_reached``) is not retried: it lasts until the month ends."""
    delay = 1.0
    for attempt in range(retries + 1):
        wait = delay
        try:
            return client.messages.with_raw_response.create(**request)
        except anthropic.APIStatusError as exc:
            headers = exc.response.headers if exc.response is not None else {}
            error = (exc.body or {}).get("error", {}) if isinstance(exc.body, dict) else {}
            spend_cap = (error.get("details") or {}).get("error_code") == SPEND_CAP
            retryable = (exc.status_code >= 500 or exc.status_code == 429) and not spend_cap
            should = headers.get("x-should-retry")
            if should in ("true", "false") and not spend_cap:
                retryable = should == "true"
            after = _seconds(headers.get("retry-after"))
            log.add(
                "error",
                {
                    "attempt": attempt,
                    "status": exc.status_code,
                    "error": str(exc),
                    "retry_after": after,
                    "retried": retryable and attempt < retries,
                },
            )
            if not retryable or attempt == retries:
                raise
            wait = after if after is not None else delay
        except RETRYABLE as exc:
            log.add("error", {"attempt": attempt, "error": f"{type(exc).__name__}: {exc}"})
            if attempt == retries:
                raise
        time.sleep(wait)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


SPEND_CAP = "enforced_spend_limit_reached"
MAX_RETRY_AFTER_S = 60.0
# a cut-off turn is retried once with twice the room: more than ~21,000 tokens the SDK refuses
# without streaming ("Streaming is required for operations that may take longer than 10 minutes")
MAX_TOKENS_CEILING_FACTOR = 2
ASK_VERDICT = "Give your verdict now: only the verdict JSON object."


def _seconds(value: str | None) -> float | None:
    """A ``retry-after`` in seconds (capped), or None when absent or not a number."""
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None


def _stop_details(response) -> dict | None:
    details = getattr(response, "stop_details", None)
    if details is None:
        return None
    return details if isinstance(details, dict) else details.model_dump(exclude_none=True)


def _run_tools(content: list[dict], by_name: dict, ctx: Context, log: EventLog) -> list[dict]:
    """A ``tool_result`` for every ``tool_use`` block, in order (the API requires each)."""
    results = []
    for block in content:
        if block.get("type") != "tool_use":
            continue
        log.add(
            "tool_call", {"id": block["id"], "name": block["name"], "input": block.get("input")}
        )
        tool = by_name.get(block["name"])
        try:
            if tool is None:
                raise ValueError(f"unknown tool {block['name']!r}")
            output, is_error = call(tool, ctx, block.get("input")), False
        except Exception as exc:  # noqa: BLE001 - the model sees the error and adapts
            output, is_error = f"{type(exc).__name__}: {exc}", True
        log.add("tool_result", {"id": block["id"], "is_error": is_error, **kept_result(output)})
        result = {
            "type": "tool_result",
            "tool_use_id": block["id"],
            "content": as_data(block["name"], output),
        }
        if is_error:
            result["is_error"] = True
        results.append(result)
    return results


def as_data(tool: str, output: str) -> str:
    """A tool's output delimited as data. ``<`` is escaped (JSON's \\u003c) so nothing read from
    the warehouse, a crafted product name say, can close the tag and speak outside it."""
    body = output.replace("<", "\\u003c")
    return f'<data tool="{tool}">\n{body}\n</data>'


def run_loop(
    client,
    *,
    role: str,
    system: str,
    prompt: str,
    tools: list[Tool],
    ctx: Context,
    log: EventLog,
    model: str,
    max_steps: int,
    max_tokens: int,
    retries: int = 3,
    thinking: bool = True,
    token_budget: int | None = None,
) -> LoopResult:
    by_name = {t.name: t for t in tools}
    messages: list[dict] = [{"role": "user", "content": prompt}]
    room, reasked, spent = max_tokens, False, 0
    for step in range(1, max_steps + 1):
        if token_budget is not None and spent >= token_budget:
            return LoopResult(None, "budget", step, f"the run's token budget is spent ({spent})")
        request = {
            "model": model,
            "max_tokens": room,
            # one cache breakpoint at the end of the system prompt caches tools + system (the
            # prefix order is tools, system, messages: "Tool use with prompt caching"), which
            # every step of a review repeats
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": messages,
            "tools": [t.spec() for t in tools],
        }
        if thinking:
            request["thinking"] = {"type": "adaptive"}
        log.add("request", {"step": step, "model": model, "n_messages": len(messages)})
        try:
            raw = _create(client, log, retries, **request)
            response = raw.parse()
            content = raw.json()["content"]
            stop = response.stop_reason
        except anthropic.APIError as exc:
            return LoopResult(None, "api_error", step, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a body the SDK could not read: fall back
            log.add("error", {"step": step, "error": f"{type(exc).__name__}: {exc}"})
            return LoopResult(None, "api_error", step, f"unreadable response: {exc}")
        usage = getattr(response, "usage", None)
        spent += usage_tokens(usage.model_dump() if usage is not None else None)
        log.add(
            "response",
            {
                "step": step,
                "message_id": getattr(response, "id", None),
                "stop_reason": stop,
                "stop_details": _stop_details(response),
                "usage": usage.model_dump(exclude_none=True) if usage is not None else None,
                "content": content,
            },
        )
        if stop == "max_tokens":
            # the turn was cut off: ask again with more room (thinking counts toward it)
            if room >= MAX_TOKENS_CEILING_FACTOR * max_tokens:
                return LoopResult(None, "max_tokens", step, f"cut off at {room} tokens")
            room *= 2
            continue
        if stop == "refusal":
            return LoopResult(None, "refusal", step, "the model declined to review")
        if stop == "model_context_window_exceeded":
            return LoopResult(None, "context_exceeded", step, "the context window filled up")
        if stop == "pause_turn":
            messages.append({"role": "assistant", "content": content})
            continue
        if stop == "tool_use":
            messages.append({"role": "assistant", "content": content})
            messages.append({"role": "user", "content": _run_tools(content, by_name, ctx, log)})
            continue
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
        if not text.strip():
            # an empty end_turn: no empty assistant message; ask for the verdict
            if content:
                messages.append({"role": "assistant", "content": content})
            messages.append({"role": "user", "content": ASK_VERDICT})
            continue
        messages.append({"role": "assistant", "content": content})
        try:
            verdict = parse_verdict(role, text)
        except ValueError as exc:
            log.add("error", {"step": step, "invalid_verdict": str(exc)})
            if reasked:
                return LoopResult(None, "invalid_verdict", step, str(exc))
            reasked = True
            messages.append(
                {
                    "role": "user",
                    "content": f"{exc}. Answer again with only the verdict JSON object.",
                }
            )
            continue
        return LoopResult(verdict, "end_turn", step)
    return LoopResult(None, "step_limit", max_steps, f"no verdict after {max_steps} steps")
