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


# drift metrics were ordered by level and node key, so the row limit cut the alphabet's end,
# however badly those nodes had drifted
def test_drift_metrics_come_worst_first_when_the_row_limit_cuts(blank_warehouse):
    import psycopg

    from warehouse.forecast_store import open_run

    run_id = open_run(blank_warehouse, 28, {})
    rows = [("aaa", 1.6, True), ("mmm", 9.0, True), ("zzz", 4.0, True), ("bbb", 0.9, False)]
    with psycopg.connect(blank_warehouse) as conn:
        for key, ratio, drifted in rows:
            conn.execute(
                """insert into forecast.drift_metrics (check_id, run_id, level, node_key,
                       window_start, window_end, n_days, error_ratio, bias, drifted)
                   values (1, %s, 'restaurant_sku', %s, '2025-01-01', '2025-01-21', 21, %s, 0.1,
                           %s)""",
                (run_id, key, ratio, drifted),
            )
    ctx = Context(blank_warehouse, run_id, row_limit=2)
    got = ALL_TOOLS["drift_metrics"].fn(ctx, drifted_only=False)
    assert [r[1] for r in got["rows"]] == ["mmm", "zzz"] and got["truncated"]
