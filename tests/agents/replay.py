"""A fake Messages API: anthropic's real client over an httpx2.MockTransport that answers each
request with the next response, in the API's wire format, and keeps the requests it was sent.

A recorded 200 message is sent as the API streams it when the request asks for a stream
("Streaming Messages": ``message_start``, then per content block ``content_block_start``, its
deltas — ``text_delta``, ``input_json_delta``, ``thinking_delta`` and ``signature_delta`` — and
``content_block_stop``, then ``message_delta`` with the stop reason and ``message_stop``); a
response may instead give its own ``events`` (a stream that breaks, an ``error`` event) or raw
``text`` (a body that is not what it claims)."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"
SECRET = "sk-ant-test-secret"


def message(n: int, content: list[dict], stop_reason: str) -> dict:
    """One 200 response of POST /v1/messages, as the API sends it."""
    return {
        "status": 200,
        "body": {
            "id": f"msg_{n:02d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1000 + n, "output_tokens": 50 + n},
        },
    }


def tool_use(n: int, name: str, tool_input: dict) -> dict:
    return message(
        n, [{"type": "tool_use", "id": f"toolu_{n:02d}", "name": name, "input": tool_input}],
        "tool_use",
    )  # fmt: skip


def final(n: int, verdict: dict) -> dict:
    """The verdict handed in through the submit_verdict tool."""
    return tool_use(n, "submit_verdict", verdict)


def prose(n: int, text: str) -> dict:
    return message(n, [{"type": "text", "text": text}], "end_turn")


def stream_events(body: dict) -> list[tuple[str, dict]]:
    """A message as the API streams it: the blocks start empty and arrive as deltas."""
    head = {k: v for k, v in body.items() if k not in ("stop_reason", "stop_details")}
    head.update(content=[], stop_reason=None, stop_sequence=None)
    usage = body.get("usage") or {}
    head["usage"] = {**usage, "output_tokens": 1}
    events = [("message_start", {"type": "message_start", "message": head})]
    for i, block in enumerate(body.get("content") or []):
        start, deltas = dict(block), []
        if block["type"] == "text":
            start["text"] = ""
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif block["type"] == "tool_use":
            start["input"] = {}
            raw = json.dumps(block["input"])
            cut = len(raw) // 2  # the input arrives as partial JSON in pieces
            deltas = [
                {"type": "input_json_delta", "partial_json": raw[:cut]},
                {"type": "input_json_delta", "partial_json": raw[cut:]},
            ]
        elif block["type"] == "thinking":
            start.update(thinking="", signature="")
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": i,
                                     "content_block": start})
        )  # fmt: skip
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {"stop_reason": body.get("stop_reason"), "stop_sequence": None}
    if "stop_details" in body:
        delta["stop_details"] = body["stop_details"]
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta,
                           "usage": {"output_tokens": usage.get("output_tokens", 0)}})
    )  # fmt: skip
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(events: list[tuple[str, dict | str]]) -> str:
    return "".join(
        f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        for name, data in events
    )


class Replay:
    """Answers each Messages API request with the next recorded response; keeps the requests."""

    def __init__(self, responses: str | list[dict]) -> None:
        if isinstance(responses, str):
            responses = json.loads((FIXTURES / responses).read_text())
        self.responses = list(responses)
        self.requests: list[dict] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        assert SECRET in request.headers["authorization"]  # the key is sent...
        sent = json.loads(request.content)
        self.requests.append(sent)
        r = self.responses.pop(0)
        if "raise" in r:  # no response at all: the connection failed or timed out
            raise r["raise"]
        headers = {"request-id": f"req_{len(self.requests):02d}", **r.get("headers", {})}
        if "text" in r:  # a body as sent, even one that is not what it claims
            kind = "text/event-stream" if sent.get("stream") else "application/json"
            return httpx2.Response(
                r["status"], content=r["text"], headers={**headers, "content-type": kind}
            )
        if r["status"] == 200 and (sent.get("stream") or "events" in r):
            events = r.get("events") or stream_events(r["body"])
            return httpx2.Response(
                200,
                content=sse(events).encode(),
                headers={**headers, "content-type": "text/event-stream"},
            )
        return httpx2.Response(r["status"], json=r["body"], headers=headers)

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=SECRET,
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
            max_retries=0,
        )


def assert_valid_conversation(request: dict) -> None:
    """What the Messages API rejects with a 400, checked on a request we sent: an assistant turn
    without content, a ``tool_use`` whose ``tool_result`` does not follow in the next turn, a
    ``tool_result`` after something else in its turn, or a tool or its schema the API would
    refuse."""
    messages = request["messages"]
    assert messages[0]["role"] == "user"
    assert request["stream"] is True
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            assert m["content"], f"message {i}: an empty assistant turn"
            uses = [b["id"] for b in m["content"] if b.get("type") == "tool_use"]
            if uses:
                assert i + 1 < len(messages), f"message {i}: tool_use without a tool_result"
                nxt = messages[i + 1]["content"]
                got = [b["tool_use_id"] for b in nxt if b.get("type") == "tool_result"]
                assert got == uses, f"message {i}: tool_use {uses} answered by {got}"
                kinds = [b.get("type") for b in nxt]
                assert kinds[: len(got)] == ["tool_result"] * len(got), "results come first"
    names = [t["name"] for t in request["tools"]]
    assert len(names) == len(set(names)) and "submit_verdict" in names
    for tool in request["tools"]:
        assert tool["input_schema"]["type"] == "object", tool["name"]
        if tool.get("strict"):
            assert_strict_schema(tool["input_schema"], tool["name"])


def assert_strict_schema(schema: dict, where: str) -> None:
    """What strict tool use compiles: every object closed, no string-length or number bounds."""
    if schema.get("type") == "object":
        assert schema.get("additionalProperties") is False, f"{where}: an open object"
        for name, prop in schema.get("properties", {}).items():
            assert_strict_schema(prop, f"{where}.{name}")
    for bound in ("minLength", "maxLength", "minimum", "maximum", "multipleOf"):
        assert bound not in schema, f"{where}: {bound} is not supported by strict tool use"
    if "items" in schema:
        assert_strict_schema(schema["items"], f"{where}[]")
