"""The manual tool-use loop on the Anthropic Messages API.

Send the conversation with the role's tool schemas and the ``submit_verdict`` tool; run every
``tool_use`` block with its Python tool and answer with ``tool_result`` blocks (``is_error`` when
the tool failed or its input was malformed); repeat until the model hands in a valid verdict
through ``submit_verdict``, or the step limit. Every request, response, HTTP attempt, tool call
and result goes to the event log.

What the documentation says, and where it is followed:
- Streaming (``messages.stream`` / ``get_final_message``, "Streaming Messages"): a long
  generation never meets a fixed timeout (the timeout is per read, and the API pings), and the
  SDK refuses large ``max_tokens`` without it. The assistant turn goes back as received: the
  streamed blocks as the API built them, thinking signatures and fields this SDK does not model
  included ("Tool use": pass ``response.content`` back unchanged).
- Stop reasons ("Stop reasons and fallback", platform.claude.com/docs/en/build-with-claude/
  handling-stop-reasons): ``max_tokens`` → the same request again with twice the room (a cut-off
  turn is never sent back, so never a ``tool_use`` without its ``tool_result``); ``pause_turn`` →
  the assistant content sent back to continue; ``refusal`` → fall back, ``stop_details`` logged;
  ``model_context_window_exceeded`` (or a 400 "prompt is too long") → the tool results shrunk and
  the request sent once more, then fall back; an empty ``end_turn`` → no empty assistant message
  (a 400), a user turn asks for the verdict.
- Errors ("Errors", platform.claude.com/docs/en/api/errors): the SDK's own retries, backoff and
  ``retry-after``; each attempt is logged by a middleware (``AttemptLog``) that also stops the
  SDK retrying a spend-cap 429 or waiting out a ``retry-after`` longer than a minute. A stream that
  breaks after its 200 (an ``error`` event, a cut connection, a garbled event) is asked again
  once. Anything else that goes wrong with a call (an unreadable body, a response without
  content) ends the loop as ``api_error``: the caller falls back to the rules and the run goes on.
- An invalid verdict is asked for again once, then the rules decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import anthropic

from agents.events import EventLog, kept_result, response_cost, usage_tokens
from agents.schema import VERDICT_TOOL, validate, verdict_tool
from agents.tools import Context, Tool, call

SPEND_CAP = "enforced_spend_limit_reached"
MAX_RETRY_AFTER_S = 60.0  # a longer wait is not waited out inside a pipeline: the rules decide
MAX_TOKENS_CEILING = 64_000  # the most a cut-off turn is retried with (Sonnet 4.6's output cap)
SHRUNK_RESULT_CHARS = 4_000  # a tool result's size after the conversation outgrew the window
ASK_VERDICT = (
    f"Hand in your verdict now: call {VERDICT_TOOL} with every field filled in from the evidence "
    "you have."
)


@dataclass
class LoopResult:
    verdict: dict | None  # None: the agent did not conclude (the caller falls back)
    # verdict, refusal, context_exceeded, max_tokens, invalid_verdict, no_verdict, step_limit,
    # budget, api_error, unknown_stop
    stop: str
    steps: int
    note: str = ""


class BrokenStream(Exception):
    """A stream that failed after its 200: an ``error`` event, a cut connection, a garbled
    event."""


def _retry_after(headers) -> float | None:
    for name, unit in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) / unit
        except (TypeError, ValueError):
            continue
    return None


def _sdk_would_retry(response) -> bool:
    """What the SDK's retry policy decides for an error response (anthropic._base_client
    ``_should_retry``: ``x-should-retry`` first, then 408, 409, 429 and 5xx), so the trail can
    say whether this attempt is retried."""
    should = response.headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


class AttemptLog(anthropic.Middleware):
    """Every HTTP attempt of the SDK (its retries included: middleware runs once per attempt,
    inside the SDK's retry loop) written to the review's trail when it fails.

    A 429 for the organisation's spend cap lasts until the cap is raised, and a ``retry-after``
    past ``MAX_RETRY_AFTER_S`` is longer than a pipeline should wait: both get
    ``x-should-retry: false``, the header the SDK's retry policy obeys, so the review falls back
    at once."""

    def __init__(self, log: EventLog, max_retries: int) -> None:
        self.log, self.max_retries = log, max_retries

    def handle(self, request, call_next):
        attempt = request.retries_taken
        try:
            response = call_next(request)
        except anthropic.APIConnectionError as exc:  # timeouts included: no response to read
            self.log.add(
                "error",
                {
                    "attempt": attempt,
                    "error": f"{type(exc).__name__}: {exc}",
                    "retried": attempt < self.max_retries,
                },
            )
            raise
        http = response.http_response
        if http.is_success:
            return response
        http.read()
        try:
            error = (http.json() or {}).get("error") or {}
        except ValueError:
            error = {"message": http.text[:500]}
        after = _retry_after(http.headers)
        spend_cap = (error.get("details") or {}).get("error_code") == SPEND_CAP
        too_long = after is not None and after > MAX_RETRY_AFTER_S
        if spend_cap or too_long:
            http.headers["x-should-retry"] = "false"
        self.log.add(
            "error",
            {
                "attempt": attempt,
                "status": http.status_code,
                "type": error.get("type"),
                "error": error.get("message"),
                "request_id": http.headers.get("request-id"),
                "retry_after": after,
                "spend_cap": spend_cap or None,
                "retried": attempt < self.max_retries and _sdk_would_retry(http),
            },
        )
        return response


def _stream(client, request: dict):
    """One streamed request: the SDK makes (and retries) the request on entering; what fails
    while the events arrive is a ``BrokenStream``."""
    with client.messages.stream(**request) as stream:
        try:
            message = stream.get_final_message()
        except Exception as exc:  # noqa: BLE001 - any failure mid-stream is the same to us
            raise BrokenStream(f"{type(exc).__name__}: {exc}") from exc
    if message.stop_reason is None:  # the events stopped before message_delta said why
        raise BrokenStream("the stream ended before the message did")
    return message


def _stop_details(message) -> dict | None:
    details = getattr(message, "stop_details", None)
    if details is None:
        return None
    return details if isinstance(details, dict) else details.model_dump(exclude_none=True)


def _too_long(exc: Exception) -> bool:
    """A request whose prompt no longer fits the context window (a 400 the API explains)."""
    return isinstance(exc, anthropic.BadRequestError) and "prompt is too long" in str(exc).lower()


def _shrink(messages: list[dict], ctx: Context) -> bool:
    """Clip every tool result past ``SHRUNK_RESULT_CHARS`` (keeping its ``<data>`` wrapper and
    saying what was cut) and make later tool results smaller too; False if nothing was big
    enough to clip."""
    clipped = False
    for message in messages:
        if message["role"] != "user" or not isinstance(message["content"], list):
            continue
        for block in message["content"]:
            text = block.get("content")
            if block.get("type") != "tool_result" or not isinstance(text, str):
                continue
            if len(text) <= SHRUNK_RESULT_CHARS:
                continue
            head, _, body = text.partition("\n")
            body = body.removesuffix("\n</data>")
            block["content"] = (
                f"{head}\n{body[:SHRUNK_RESULT_CHARS]}\n… [clipped from {len(body):,} to "
                f"{SHRUNK_RESULT_CHARS:,} characters so the conversation fits the context "
                "window]\n</data>"
            )
            clipped = True
    ctx.byte_limit = min(ctx.byte_limit, SHRUNK_RESULT_CHARS)
    return clipped


def _run_tools(
    content: list[dict], by_name: dict, ctx: Context, log: EventLog, verdict_error: str = ""
) -> list[dict]:
    """A ``tool_result`` for every ``tool_use`` block, in order (the API requires each); a
    rejected ``submit_verdict`` is answered with why."""
    results = []
    for block in content:
        if block.get("type") != "tool_use":
            continue
        log.add(
            "tool_call", {"id": block["id"], "name": block["name"], "input": block.get("input")}
        )
        tool = by_name.get(block["name"])
        try:
            if block["name"] == VERDICT_TOOL:
                raise ValueError(verdict_error or "the verdict was not accepted")
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
    prices: dict | None = None,
) -> LoopResult:
    client = client.with_options(max_retries=retries).with_middleware(AttemptLog(log, retries))
    by_name = {t.name: t for t in tools}
    specs = [t.spec() for t in tools] + [verdict_tool(role)]
    messages: list[dict] = [{"role": "user", "content": prompt}]
    room, reasked, shrunk, stream_retried, spent = max_tokens, False, False, False, 0
    ceiling = max(max_tokens, MAX_TOKENS_CEILING)
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
            "tools": specs,
        }
        if thinking:
            request["thinking"] = {"type": "adaptive"}
        log.add("request", {"step": step, "model": model, "n_messages": len(messages)})
        try:
            message = _stream(client, request)
        except BrokenStream as exc:
            log.add("error", {"step": step, "stream": str(exc), "retried": not stream_retried})
            if stream_retried:
                return LoopResult(None, "api_error", step, f"the stream broke twice: {exc}")
            stream_retried = True
            continue
        except anthropic.APIStatusError as exc:  # each attempt is in the trail (AttemptLog)
            if _too_long(exc) and not shrunk and _shrink(messages, ctx):
                shrunk = True
                log.add("error", {"step": step, "context": "prompt too long: tool results shrunk"})
                continue
            return LoopResult(None, "api_error", step, f"{type(exc).__name__}: {exc}")
        except anthropic.APIError as exc:  # connection and timeouts, after the SDK's retries
            return LoopResult(None, "api_error", step, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a body the SDK could not read: fall back
            log.add("error", {"step": step, "error": f"{type(exc).__name__}: {exc}"})
            return LoopResult(None, "api_error", step, f"unreadable response: {exc}")
        try:
            content = [block.to_dict() for block in message.content]
            usage = message.usage.model_dump(exclude_none=True)
        except Exception as exc:  # noqa: BLE001 - a message without content or usage
            log.add("error", {"step": step, "error": f"{type(exc).__name__}: {exc}"})
            return LoopResult(None, "api_error", step, f"unreadable response: {exc}")
        stop = message.stop_reason
        spent += usage_tokens(usage)
        log.add(
            "response",
            {
                "step": step,
                "message_id": message.id,
                "model": getattr(message, "model", None) or model,
                "stop_reason": stop,
                "stop_details": _stop_details(message),
                "usage": usage,
                "cost_usd": response_cost(model, usage, prices),
                "content": content,
            },
        )
        if stop == "max_tokens":
            # the turn was cut off (thinking counts toward the room): ask again with more
            if room >= ceiling:
                return LoopResult(None, "max_tokens", step, f"cut off at {room} tokens")
            room = min(room * 2, ceiling)
            continue
        if stop == "refusal":
            return LoopResult(None, "refusal", step, "the model declined to review")
        if stop == "model_context_window_exceeded":
            if not shrunk and _shrink(messages, ctx):
                shrunk = True
                continue
            return LoopResult(None, "context_exceeded", step, "the context window filled up")
        if stop == "pause_turn":
            messages.append({"role": "assistant", "content": content})
            continue
        if stop == "tool_use":
            handed_in = [
                b for b in content if b.get("type") == "tool_use" and b["name"] == VERDICT_TOOL
            ]
            problem = ""
            if handed_in:
                verdict = handed_in[-1].get("input")
                try:
                    validate(role, verdict)
                    return LoopResult(verdict, "verdict", step)
                except ValueError as exc:
                    problem = str(exc)
                log.add("error", {"step": step, "invalid_verdict": problem})
                if reasked:
                    return LoopResult(None, "invalid_verdict", step, problem)
                reasked = True
            messages.append({"role": "assistant", "content": content})
            messages.append(
                {"role": "user", "content": _run_tools(content, by_name, ctx, log, problem)}
            )
            continue
        if stop not in ("end_turn", "stop_sequence"):
            return LoopResult(None, "unknown_stop", step, f"stop reason {stop!r}")
        said = any(b.get("type") == "text" and b.get("text", "").strip() for b in content)
        if said:
            # an answer in prose is not a verdict: ask once for the tool call
            log.add("error", {"step": step, "invalid_verdict": f"no {VERDICT_TOOL} call"})
            if reasked:
                return LoopResult(None, "no_verdict", step, f"ended twice without {VERDICT_TOOL}")
            reasked = True
        # (an empty end_turn is not sent back as an empty assistant message: a 400)
        if content:
            messages.append({"role": "assistant", "content": content})
        messages.append({"role": "user", "content": ASK_VERDICT})
    return LoopResult(None, "step_limit", max_steps, f"no verdict after {max_steps} steps")
