"""Slow answers over a real socket: a local HTTP server speaking the Messages API's stream,
slowly. A long generation that keeps streaming outlives the client's timeout (it limits silence,
not length); a server that goes silent times out, is retried by the SDK, and the rules decide."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import psycopg
import pytest

from agents.reviewers import review
from frycast.settings import Settings
from tests.agents.replay import SECRET, final, sse, stream_events
from tests.conftest import query
from warehouse.forecast_store import open_run

VERDICT = {
    "verdict": "proceed",
    "severity": "info",
    "summary": "Every check passed.",
    "findings": [],
    "recommended_actions": [],
}


# not time.sleep: a test that records the SDK's waits replaces time.sleep for everyone
_pause = threading.Event().wait


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gap = 0.0  # seconds between two events
    silence = 0.0  # seconds before the status line

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["content-length"]))
        self.server.requests += 1
        _pause(self.silence)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in stream_events(final(1, VERDICT)["body"]):
            chunk = sse([event]).encode()
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
            _pause(self.gap)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    def start(gap: float = 0.0, silence: float = 0.0):
        handler = type("Handler", (_Slow,), {"gap": gap, "silence": silence})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.requests = 0
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return httpd

    started: list[ThreadingHTTPServer] = []
    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def run(blank_warehouse):
    run_id = open_run(blank_warehouse, 28, {})
    with psycopg.connect(blank_warehouse) as conn:
        conn.execute(
            """insert into forecast.dq_results
               (run_id, source, check_name, table_name, severity, success, observed)
               values (%s, 'dbt', 'not_null_units', 'raw.daily_sales', 'critical', true, null)""",
            (run_id,),
        )
    return blank_warehouse, run_id


def _client(httpd, timeout: float) -> anthropic.Anthropic:
    host, port = httpd.server_address
    return anthropic.Anthropic(
        api_key=SECRET, base_url=f"http://{host}:{port}", timeout=timeout, max_retries=0
    )


def test_a_long_generation_that_keeps_streaming_outlives_the_timeout(run, server):
    url, run_id = run
    # 7 events 0.4 s apart: the last arrives 2.4 s after the first (never 0.4 s of silence)
    httpd = server(gap=0.4)
    started = time.perf_counter()
    verdict, _ = review(
        "data_quality", url, run_id, settings=Settings(), client=_client(httpd, timeout=1.0)
    )
    took = time.perf_counter() - started
    assert took > 2.0  # twice the timeout (the server's own pauses make it at least 2.4 s)
    assert verdict.verdict == "proceed" and not verdict.offline and httpd.requests == 1


def test_a_silent_server_times_out_is_retried_and_the_rules_decide(run, server, monkeypatch):
    monkeypatch.setattr("anthropic._base_client.time.sleep", lambda s: None)
    url, run_id = run
    httpd = server(silence=1.5)
    verdict, _ = review(
        "data_quality",
        url,
        run_id,
        settings=Settings(FRYCAST_AGENT_RETRIES=1),
        client=_client(httpd, timeout=0.3),
    )
    assert verdict.offline and "api_error" in verdict.summary and verdict.verdict == "proceed"
    assert httpd.requests == 2  # the first attempt and the SDK's one retry
    errors = [
        p
        for (p,) in query(
            url,
            "select payload from forecast.agent_events where run_id = %s and kind = 'error'"
            " order by seq",
            (run_id,),
        )
    ]
    assert [e["error"].split(":")[0] for e in errors] == ["APITimeoutError"] * 2
    assert [e["retried"] for e in errors] == [True, False]
