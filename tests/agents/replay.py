"""A fake Messages API: anthropic's real client over an httpx2.MockTransport that answers each
request with the next response, in the API's wire format, and keeps the requests it was sent."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agents"


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
    return message(n, [{"type": "text", "text": json.dumps(verdict)}], "end_turn")


class Replay:
    """Answers each Messages API request with the next recorded response; keeps the requests."""

    def __init__(self, responses: str | list[dict]) -> None:
        if isinstance(responses, str):
            responses = json.loads((FIXTURES / responses).read_text())
        self.responses = list(responses)
        self.requests: list[dict] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        assert "sk-ant-test-secret" in request.headers["authorization"]  # the key is sent...
        self.requests.append(json.loads(request.content))
        r = self.responses.pop(0)
        if "text" in r:  # a body as sent, even one that is not JSON
            return httpx2.Response(
                r["status"], content=r["text"], headers={"content-type": "application/json"}
            )
        return httpx2.Response(r["status"], json=r["body"], headers=r.get("headers"))

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key="sk-ant-test-secret",
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
            max_retries=0,
        )


def assert_valid_conversation(request: dict) -> None:
    """What the Messages API rejects with a 400, checked on a request we sent: an assistant turn
    without content, or a ``tool_use`` whose ``tool_result`` does not follow in the next turn."""
    messages = request["messages"]
    assert messages[0]["role"] == "user"
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            assert m["content"], f"message {i}: an empty assistant turn"
            uses = [b["id"] for b in m["content"] if b.get("type") == "tool_use"]
            if uses:
                assert i + 1 < len(messages), f"message {i}: tool_use without a tool_result"
                nxt = messages[i + 1]["content"]
                got = [b["tool_use_id"] for b in nxt if b.get("type") == "tool_result"]
                assert got == uses, f"message {i}: tool_use {uses} answered by {got}"
