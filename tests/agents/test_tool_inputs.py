"""A model's tool input is checked against the tool's own JSON schema before the tool runs: a
wrong type, a level that does not exist or an argument the tool does not take is an error the
model sees (and can fix), never a silently different query."""

from __future__ import annotations

import pytest

from agents.tools import ALL_TOOLS, Context, call
from frycast.levels import LEVEL_NAMES

# no database: a refused input never reaches the tool's query
CTX = Context("postgresql://nobody@127.0.0.1:1/none", run_id=1)


@pytest.mark.parametrize(
    ("tool", "raw", "says"),
    [
        (
            "data_quality_results",
            {"failed_only": "no"},
            "failed_only: 'no' is not of type 'boolean'",
        ),
        ("backtest_leaderboard", {"level": "store"}, "level: 'store' is not one of"),
        ("summarise_series", {"level": "chain"}, "missing ['node_key']"),
        ("drift_metrics", {"drifted_only": True, "limit": 5}, "unknown ['limit']"),
        ("sql", {"query": 7}, "query: 7 is not of type 'string'"),
        ("coherence", [], "tool input must be a JSON object"),
    ],
)
def test_an_input_the_schema_refuses_is_an_error_before_the_tool_runs(tool, raw, says):
    with pytest.raises(ValueError) as exc:
        call(ALL_TOOLS[tool], CTX, raw)
    assert says in str(exc.value)


def test_levels_are_offered_as_the_hierarchy_defines_them_and_every_parameter_is_described():
    for tool in ALL_TOOLS.values():
        schema = tool.input_schema
        assert schema["additionalProperties"] is False, tool.name
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
            if name == "level":
                assert prop["enum"] == list(LEVEL_NAMES)
