"""The verdict every reviewer returns, live or offline, validated before it is stored."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import jsonschema

VERDICTS = {
    "data_quality": ["proceed", "proceed_with_warnings", "halt"],
    "metrics": ["publish", "hold"],
    "drift": ["retrain", "keep"],
    "features": ["advise", "no_change"],
}
GO = {"proceed", "proceed_with_warnings", "publish", "keep", "advise", "no_change", "retrain"}


@dataclass
class Verdict:
    """A gate's decision, from a rule or a reviewer: the fields the schema below validates in a
    model's answer, plus which gate and whether a model made it."""

    gate: str
    verdict: str  # proceed / proceed_with_warnings / halt, publish / hold, retrain / keep, ...
    summary: str
    findings: list[dict]
    offline: bool = True  # a deterministic rule, not a model
    severity: str | None = None
    recommended_actions: list = field(default_factory=list)

    @property
    def go(self) -> bool:
        return self.verdict in GO


def verdict_schema(role: str) -> dict:
    return {
        "type": "object",
        "required": ["verdict", "severity", "summary", "findings", "recommended_actions"],
        "additionalProperties": False,
        "properties": {
            "verdict": {"enum": VERDICTS[role]},
            "severity": {"enum": ["info", "warning", "critical"]},
            "summary": {"type": "string", "minLength": 1},
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["title", "evidence"],
                    "properties": {
                        "title": {"type": "string"},
                        "evidence": {"type": "string"},
                        "severity": {"enum": ["info", "warning", "critical"]},
                    },
                },
            },
            "recommended_actions": {"type": "array", "items": {"type": ["string", "object"]}},
        },
    }


def parse_verdict(role: str, text: str) -> dict:
    """The last JSON object in ``text``, validated; raises ValueError saying what is wrong."""
    candidates = re.findall(r"\{.*\}", text, flags=re.S)
    if not candidates:
        raise ValueError("no JSON object in the answer")
    try:
        data = json.loads(candidates[-1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the verdict is not valid JSON: {exc}") from exc
    validate(role, data)
    return data


def validate(role: str, data: dict) -> None:
    try:
        jsonschema.validate(data, verdict_schema(role))
    except jsonschema.ValidationError as exc:
        raise ValueError(f"the verdict does not match the schema: {exc.message}") from exc
