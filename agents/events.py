"""The audit trail: every request, response, tool call and result of a review, in order.

Append-only: a review takes a new ``review_id`` (from ``forecast.agent_reviews``' identity) before
its first event, and its events and verdict are added under it; nothing earlier is deleted or
overwritten (the tables refuse updates and deletes). Tool results are kept whole up to
``FULL_RESULT_CAP`` characters, past that as their size, sha256 and head.
"""

from __future__ import annotations

import hashlib
import json
import re

import psycopg

_SECRET = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
FULL_RESULT_CAP = 256_000  # characters of a tool result kept verbatim in the trail


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with the configured secrets (by value) and anything that looks like an API key
    blanked out."""
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return _SECRET.sub("[redacted]", text)


def _clean(payload, secrets: tuple[str, ...] = ()) -> str:
    """``payload`` as scrubbed JSON (a secret also as JSON escapes it)."""
    escaped = tuple(json.dumps(s)[1:-1] for s in secrets)
    return _scrub(json.dumps(payload, default=str), secrets + escaped)


def configured_secrets(settings) -> tuple[str, ...]:
    """The secrets a setting holds (keys, passwords, the passwords in URLs), longest first."""
    from urllib.parse import urlsplit

    values = [
        settings.anthropic_api_key,
        settings.aws_secret_access_key,
        settings.aws_access_key_id,
        settings.owner_password,
        settings.reader_password,
    ]
    for url in (settings.database_url, settings.reader_url, settings.mlflow_tracking_uri):
        if url:
            values.append(urlsplit(url).password)
    # short values would blank out ordinary words
    return tuple(sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True))


def kept_result(output: str) -> dict:
    """A tool result as the trail keeps it: whole, or its size, hash and head past the cap."""
    if len(output) <= FULL_RESULT_CAP:
        return {"content": output, "chars": len(output)}
    return {
        "content": output[:4000],
        "chars": len(output),
        "sha256": hashlib.sha256(output.encode()).hexdigest(),
        "clipped": True,
    }


class EventLog:
    def __init__(self, url: str, run_id: int, agent: str, secrets: tuple[str, ...] = ()) -> None:
        self.url, self.run_id, self.agent, self.secrets = url, run_id, agent, secrets
        with psycopg.connect(url) as conn:
            self.review_id = conn.execute(
                "select nextval(pg_get_serial_sequence('forecast.agent_reviews', 'review_id'))"
            ).fetchone()[0]
        self.seq = 0

    def add(self, kind: str, payload) -> None:
        self.seq += 1
        with psycopg.connect(self.url) as conn:
            conn.execute(
                "insert into forecast.agent_events (review_id, run_id, agent, seq, kind, payload)"
                " values (%s, %s, %s, %s, %s, %s)",
                (
                    self.review_id,
                    self.run_id,
                    self.agent,
                    self.seq,
                    kind,
                    _clean(payload, self.secrets),
                ),
            )


def tokens_spent(url: str, run_id: int) -> int:
    """Tokens the run's reviews have used so far, from the usage every response reported."""
    with psycopg.connect(url) as conn:
        return int(
            conn.execute(
                """select coalesce(sum(coalesce((payload -> 'usage' ->> 'input_tokens')::bigint, 0)
                                   + coalesce((payload -> 'usage' ->> 'output_tokens')::bigint, 0)
                                   + coalesce((payload -> 'usage'
                                               ->> 'cache_read_input_tokens')::bigint, 0)
                                   + coalesce((payload -> 'usage'
                                               ->> 'cache_creation_input_tokens')::bigint, 0)), 0)
                     from forecast.agent_events where run_id = %s and kind = 'response'""",
                (run_id,),
            ).fetchone()[0]
        )


def usage_tokens(usage: dict | None) -> int:
    """The same sum for one response's usage."""
    keys = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    return sum(int((usage or {}).get(k) or 0) for k in keys)


# "Pricing" (platform.claude.com/docs/en/about-claude/pricing): a 5-minute cache write costs
# 1.25 x the input price, a cache read 0.1 x
CACHE_WRITE_FACTOR, CACHE_READ_FACTOR = 1.25, 0.1


def response_cost(model: str, usage: dict | None, prices: dict | None) -> float | None:
    """What one response cost in US dollars, from its usage and ``prices`` (model -> (input,
    output) dollars per million tokens); None for a model without a price (unknown, not free)."""
    price = (prices or {}).get(model)
    if price is None:
        return None
    per_input, per_output = (float(p) / 1e6 for p in price)
    u = {k: int((usage or {}).get(k) or 0) for k in (
        "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"
    )}  # fmt: skip
    return round(
        u["input_tokens"] * per_input
        + u["cache_creation_input_tokens"] * per_input * CACHE_WRITE_FACTOR
        + u["cache_read_input_tokens"] * per_input * CACHE_READ_FACTOR
        + u["output_tokens"] * per_output,
        6,
    )


def record_review(
    log: EventLog,
    verdict,
    *,
    model: str,
    rules: str,
    agent: str | None,
    check_id: int | None = None,
) -> int:
    """Append the review's row under the id its events carry; returns that id."""
    with psycopg.connect(log.url) as conn:
        conn.execute(
            """insert into forecast.agent_reviews
               (review_id, run_id, agent, verdict, summary, findings, model, offline, severity,
                recommended_actions, check_id, rules_verdict, agent_verdict)
               overriding system value
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                log.review_id,
                log.run_id,
                verdict.gate,
                verdict.verdict,
                _scrub(verdict.summary, log.secrets),
                _clean(verdict.findings, log.secrets),
                model,
                verdict.offline,
                verdict.severity,
                json.dumps(verdict.recommended_actions, default=str),
                check_id,
                rules,
                agent,
            ),
        )
    return log.review_id
