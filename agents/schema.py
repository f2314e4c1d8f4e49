"""The verdict every reviewer returns, live or offline, validated before it is stored; and the
``submit_verdict`` tool through which a live reviewer hands it in."""

from __future__ import annotations

from dataclasses import dataclass, field

import jsonschema

VERDICTS = {
    "data_quality": ["proceed", "proceed_with_warnings", "halt"],
    "metrics": ["publish", "hold"],
    "drift": ["retrain", "keep"],
    "features": ["advise", "no_change"],
}
GO = {"proceed", "proceed_with_warnings", "publish", "keep", "advise", "no_change", "retrain"}
# the feature advisor's allow-list: what agents.advice can apply or report
FEATURE_CHANGES = ["lags", "windows", "holiday_windows", "fourier_terms"]
VERDICT_TOOL = "submit_verdict"
SEVERITIES = ["info", "warning", "critical"]


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
    # what a rule decided on (levels complete, scores, coverage), for a reviewer to read
    facts: dict = field(default_factory=dict)

    @property
    def go(self) -> bool:
        return self.verdict in GO


def _action_schema(role: str) -> dict:
    if role == "features":
        return {
            "type": "object",
            "required": ["change", "value", "why"],
            "additionalProperties": False,
            "properties": {
                "change": {"enum": FEATURE_CHANGES, "description": "What to change."},
                "value": {
                    "type": "string",
                    "description": "The new setting: day counts separated by commas for lags "
                    "and windows (e.g. '7,14,28'), a number for holiday_windows or "
                    "fourier_terms.",
                },
                "why": {"type": "string", "description": "The evidence, with its numbers."},
            },
        }
    return {"type": "string", "description": "One action a planner or engineer can take."}


def verdict_schema(role: str, *, strict: bool = False) -> dict:
    """The verdict's JSON schema. ``strict``: the form the API's strict tool use compiles into a
    grammar (every object closed with ``additionalProperties: false``; no string-length bounds,
    which it does not support — "Strict tool use", platform.claude.com/docs/en/agents-and-tools/
    tool-use/strict-tool-use); the non-empty summary is then checked here, after the call."""
    summary = {"type": "string", "description": "Two or three sentences a planner reads first."}
    if not strict:
        summary["minLength"] = 1
    return {
        "type": "object",
        "required": ["verdict", "severity", "summary", "findings", "recommended_actions"],
        "additionalProperties": False,
        "properties": {
            "verdict": {"enum": VERDICTS[role], "description": "The gate's decision."},
            "severity": {"enum": SEVERITIES, "description": "How serious the worst finding is."},
            "summary": summary,
            "findings": {
                "type": "array",
                "description": "What you saw, each with the numbers from a tool result.",
                "items": {
                    "type": "object",
                    "required": ["title", "evidence", "severity"],
                    "additionalProperties": False,
                    "properties": {
                        "title": {"type": "string", "description": "A few words."},
                        "evidence": {"type": "string", "description": "Numbers you saw."},
                        "severity": {"enum": SEVERITIES},
                    },
                },
            },
            "recommended_actions": {"type": "array", "items": _action_schema(role)},
        },
    }


def verdict_tool(role: str) -> dict:
    """The tool a reviewer ends its review with: its input is the verdict, so the verdict is
    structured (``strict``: the API samples it from the schema's grammar) and validated again
    here; the loop ends on it."""
    return {
        "name": VERDICT_TOOL,
        "description": "Hand in your verdict and end the review. Call it once, after looking at "
        "the evidence, with every field filled in; findings quote the numbers you saw. The "
        "review is over when this call is accepted.",
        "input_schema": verdict_schema(role, strict=True),
        "strict": True,
    }


def validate(role: str, data) -> None:
    """Raises ValueError saying what is wrong with ``data`` as ``role``'s verdict."""
    if not isinstance(data, dict):
        raise ValueError(f"the verdict must be a JSON object, got {type(data).__name__}")
    try:
        jsonschema.validate(data, verdict_schema(role))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "verdict"
        raise ValueError(f"the verdict does not match the schema: {where}: {exc.message}") from exc
