"""The manual tool-use loop on the Anthropic Messages API.

Send the conversation with the role's tool schemas; run every ``tool_use`` block with its Python
tool and answer with ``tool_result`` blocks (``is_error`` when the tool failed or its input was
malformed); repeat until the model ends its turn with a verdict, or the step limit. API errors
are retried with exponential backoff; a ``max_tokens`` stop asks for the verdict briefly; a
refusal ends the loop. Every request, response, tool call and result goes to the event log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anthropic

from agents.events import EventLog, kept_result
from agents.schema import parse_verdict
from agents.tools import Context, Tool, call

RETRYABLE = (anthropic.APIConnectionError, anthropic.APITimeoutError, anthropic.RateLimitError)


@dataclass
class LoopResult:
    verdict: dict | None  # None: the agent did not conclude (the caller falls back)
    stop: str  # end_turn, refusal, step_limit, api_error
    steps: int
    note: str = ""


def _content(response) -> list[dict]:
    """The response's blocks as request-ready dicts (thinking blocks kept, as the API wants)."""
    out = []
    for block in response.content:
        d = block.model_dump(exclude_none=True)
        d.pop("caller", None)
        d.pop("toolset_name", None)
        out.append(d)
    return out


def _create(client, log: EventLog, retries: int, **request):
    delay = 1.0
    for attempt in range(retries + 1):
        try:
            return client.messages.create(**request)
        except anthropic.APIStatusError as exc:
            retryable = exc.status_code >= 500 or exc.status_code == 429
            log.add("error", {"attempt": attempt, "status": exc.status_code, "error": str(exc)})
            if not retryable or attempt == retries:
                raise
        except RETRYABLE as exc:
            log.add("error", {"attempt": attempt, "error": f"{type(exc).__name__}: {exc}"})
            if attempt == retries:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


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
) -> LoopResult:
    by_name = {t.name: t for t in tools}
    messages: list[dict] = [{"role": "user", "content": prompt}]
    for step in range(1, max_steps + 1):
        request = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": messages,
            "tools": [t.spec() for t in tools],
        }
        if thinking:
            request["thinking"] = {"type": "adaptive"}
        log.add("request", {"step": step, "model": model, "n_messages": len(messages)})
        try:
            response = _create(client, log, retries, **request)
        except anthropic.APIError as exc:
            return LoopResult(None, "api_error", step, f"{type(exc).__name__}: {exc}")
        content = _content(response)
        usage = getattr(response, "usage", None)
        log.add(
            "response",
            {
                "step": step,
                "message_id": getattr(response, "id", None),
                "stop_reason": response.stop_reason,
                "usage": usage.model_dump(exclude_none=True) if usage is not None else None,
                "content": content,
            },
        )
        messages.append({"role": "assistant", "content": content})
        if response.stop_reason == "refusal":
            return LoopResult(None, "refusal", step, "the model declined to review")
        if response.stop_reason == "tool_use":
            results = []
            for block in content:
                if block.get("type") != "tool_use":
                    continue
                log.add(
                    "tool_call",
                    {"id": block["id"], "name": block["name"], "input": block.get("input")},
                )
                tool = by_name.get(block["name"])
                try:
                    if tool is None:
                        raise ValueError(f"unknown tool {block['name']!r}")
                    output, is_error = call(tool, ctx, block.get("input")), False
                except Exception as exc:  # noqa: BLE001 - the model sees the error and adapts
                    output, is_error = f"{type(exc).__name__}: {exc}", True
                log.add(
                    "tool_result", {"id": block["id"], "is_error": is_error, **kept_result(output)}
                )
                result = {
                    "type": "tool_result",
                    "tool_use_id": block["id"],
                    "content": as_data(block["name"], output),
                }
                if is_error:
                    result["is_error"] = True
                results.append(result)
            messages.append({"role": "user", "content": results})
            continue
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
        if response.stop_reason == "max_tokens":
            messages.append(
                {
                    "role": "user",
                    "content": "You ran out of tokens. Give only your verdict JSON now, briefly.",
                }
            )
            continue
        try:
            verdict = parse_verdict(role, text)
        except ValueError as exc:
            log.add("error", {"step": step, "invalid_verdict": str(exc)})
            messages.append(
                {
                    "role": "user",
                    "content": f"{exc}. Answer again with only the verdict JSON object.",
                }
            )
            continue
        return LoopResult(verdict, "end_turn", step)
    return LoopResult(None, "step_limit", max_steps, f"no verdict after {max_steps} steps")
