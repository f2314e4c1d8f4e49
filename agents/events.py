"""The audit trail: every request, response, tool call and result of an agent, in order."""

from __future__ import annotations

import json
import re

import psycopg

_SECRET = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")


def _clean(payload) -> str:
    """JSON with anything that looks like an API key blanked out."""
    return _SECRET.sub("[redacted]", json.dumps(payload, default=str))


class EventLog:
    def __init__(self, url: str, run_id: int, agent: str) -> None:
        self.url, self.run_id, self.agent = url, run_id, agent
        with psycopg.connect(url) as conn:
            conn.execute(
                "delete from forecast.agent_events where run_id = %s and agent = %s",
                (run_id, agent),
            )
        self.seq = 0

    def add(self, kind: str, payload) -> None:
        self.seq += 1
        with psycopg.connect(self.url) as conn:
            conn.execute(
                "insert into forecast.agent_events (run_id, agent, seq, kind, payload)"
                " values (%s, %s, %s, %s, %s)",
                (self.run_id, self.agent, self.seq, kind, _clean(payload)),
            )
