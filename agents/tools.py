"""Read-only tools the reviewers call. Each is deterministic Python with a JSON schema.

Every tool reads as the reader login ``frycast_reader`` (a login that cannot write, create or read
MLflow, whatever it sends), in a READ ONLY transaction with a statement timeout, a row limit and
a byte cap. The SQL tool also runs exactly one plain SELECT (``agents.sql_guard``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import jsonschema

from agents.sql_guard import check_select
from frycast.levels import LEVEL_NAMES
from warehouse.db import read_only, reader_url


@dataclass
class Tool:
    name: str
    description: str
    input_schema: dict
    fn: Callable[..., object]

    def spec(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }


@dataclass
class Context:
    """What the tools may read: the warehouse, the run under review, the limits."""

    url: str  # the warehouse (its reader login is derived from it unless reader_url is given)
    run_id: int
    sql_timeout_ms: int = 5000
    row_limit: int = 200
    byte_limit: int = 64_000
    reader_url: str | None = None
    requests: list[dict] = field(default_factory=list)  # actions a tool asked for (retrain)

    @property
    def reader(self) -> str:
        return self.reader_url or reader_url(self.url)


def _rows(ctx: Context, query: str, params: tuple = ()) -> dict:
    """Rows of a query run as the reader login: at most ``row_limit`` rows and ``byte_limit``
    bytes of JSON, fetched through a server-side cursor so a large result never crosses."""
    with read_only(ctx.reader, ctx.sql_timeout_ms) as conn, conn.cursor(name="tool") as cur:
        cur.execute(query, params or None)
        cols = [d.name for d in cur.description] if cur.description else []
        rows = [list(r) for r in cur.fetchmany(ctx.row_limit + 1)]
    truncated = len(rows) > ctx.row_limit
    rows = rows[: ctx.row_limit]
    cell_cap = max(ctx.byte_limit // 8, 64)
    rows = [[_capped(v, cell_cap) for v in r] for r in rows]
    # drop rows from the end until the result fits the byte cap
    while rows and len(json.dumps(rows, default=str)) > ctx.byte_limit:
        rows = rows[: max(len(rows) * 3 // 4, len(rows) - 1)]
        truncated = True
    return {"columns": cols, "rows": rows, "truncated": truncated}


def _capped(value, cap: int):
    if isinstance(value, str) and len(value) > cap:
        return value[:cap] + f"… [{len(value) - cap} more characters]"
    return value


def sql(ctx: Context, query: str) -> dict:
    """One read-only SELECT on the marts and forecast tables, as the reader login."""
    check_select(query)
    return _rows(ctx, query)


def data_quality_results(ctx: Context, failed_only: bool = False) -> dict:
    return _rows(
        ctx,
        "select source, check_name, table_name, severity, success, observed"
        " from forecast.dq_results where run_id = %s"
        + (" and not success" if failed_only else "")
        + " order by success, severity, check_name",
        (ctx.run_id,),
    )


def backtest_leaderboard(ctx: Context, level: str = "restaurant_sku") -> dict:
    return _rows(
        ctx,
        """select model, round(avg(mase)::numeric, 4) as mase,
                  round(avg(coverage_80)::numeric, 3) as coverage_80, count(*) as n
             from forecast.backtest_metrics
            where run_id = %s and level = %s and mase = mase
            group by model order by 2""",
        (ctx.run_id, level),
    )


def compare_with_previous(ctx: Context) -> dict:
    """Mean backtest MASE per level and model: this run next to the last published one."""
    return _rows(
        ctx,
        """with prev as (select max(run_id) as run_id from forecast.forecast_runs
                          where published and run_id < %s)
           select m.level, m.model,
                  round(avg(m.mase) filter (where m.run_id = %s)::numeric, 4) as this_run,
                  round(avg(m.mase) filter (where m.run_id = prev.run_id)::numeric, 4)
                      as previous_published
             from forecast.backtest_metrics m, prev
            where m.run_id in (%s, prev.run_id) and m.mase = m.mase
              and m.model in ('selected', 'mint_shrink', 'snaive')
            group by m.level, m.model order by 1, 2""",
        (ctx.run_id, ctx.run_id, ctx.run_id),
    )


def coherence(ctx: Context) -> dict:
    """The largest relative gap between the chain's reconciled forecast and the bottom's sum."""
    return _rows(
        ctx,
        """select max(abs(c.yhat - b.total) / greatest(b.total, 1)) as max_relative_gap
             from forecast.forecast_values c
             join (select forecast_date, sum(yhat) as total from forecast.forecast_values
                    where run_id = %s and reconciled and level = 'restaurant_sku'
                    group by forecast_date) b using (forecast_date)
            where c.run_id = %s and c.reconciled and c.level = 'chain'""",
        (ctx.run_id, ctx.run_id),
    )


def drift_metrics(ctx: Context, drifted_only: bool = True) -> dict:
    return _rows(
        ctx,
        """select level, node_key, n_days, round(error_ratio::numeric, 2) as error_ratio,
                  round(bias::numeric, 3) as bias, round(coverage_80::numeric, 2) as coverage,
                  reasons
             from forecast.drift_metrics
            where check_id = (select max(check_id) from forecast.drift_metrics)"""
        + (" and drifted" if drifted_only else "")
        # the worst first: a row limit cuts the mildest nodes, not the end of the alphabet
        + " order by drifted desc, error_ratio desc nulls last, abs(bias) desc nulls last,"
        " level, node_key",
    )


def summarise_series(ctx: Context, level: str, node_key: str) -> dict:
    """Served forecast of one node next to its last 8 weeks of actuals (weekly means)."""
    return _rows(
        ctx,
        """select 'forecast' as kind, date_trunc('week', forecast_date)::date as week,
                  round(avg(yhat)::numeric, 2) as mean_units
             from marts.fct_forecast where level = %s and node_key = %s and horizon_day <= 56
            group by 2
           union all
           select 'actual', date_trunc('week', forecast_date)::date, round(avg(actual)::numeric, 2)
             from marts.fct_forecast_vs_actual where level = %s and node_key = %s
            group by 2
            order by 1, 2""",
        (level, node_key, level, node_key),
    )


def feature_importances(ctx: Context) -> dict:
    """The global models' feature importances (gain share) of this run."""
    out = _rows(
        ctx,
        """select model, feature, round(importance::numeric, 4) as importance
             from forecast.feature_importances
            where run_id = %s order by model, importance desc""",
        (ctx.run_id,),
    )
    if not out["rows"]:
        return {"importances": {}, "note": "no global model was trained in this run"}
    importances: dict[str, dict[str, float]] = {}
    for model, feature, value in out["rows"]:
        importances.setdefault(model, {})[feature] = float(value)
    return {"importances": importances, "truncated": out["truncated"]}


def trigger_retrain(ctx: Context, reason: str) -> dict:
    """Ask for a new forecast_pipeline run (the drift flow starts it after the review)."""
    ctx.requests.append({"action": "retrain", "reason": reason})
    return {"queued": True, "reason": reason}


def _schema(props: dict | None = None, required: list[str] | None = None) -> dict:
    # additionalProperties false: an argument the tool does not take is an error, not ignored
    return {
        "type": "object",
        "properties": props or {},
        "required": required or [],
        "additionalProperties": False,
    }


LEVEL = {
    "type": "string",
    "enum": list(LEVEL_NAMES),
    "description": "A hierarchy level; restaurant_sku is the bottom (one restaurant's item).",
}


ALL_TOOLS = {
    "sql": Tool(
        "sql",
        "Run exactly one read-only SELECT (PostgreSQL) on the warehouse as a login that cannot "
        "write: marts.* (fct_forecast, fct_forecast_accuracy, fct_forecast_vs_actual, "
        "fct_daily_sales, dim_*), forecast.* tables, raw.load_batches and raw.rejected_rows. "
        "Several statements, writes, SET/RESET, COPY, DO and functions that write or read files "
        "are refused; a query past the time limit is cancelled; at most the row and byte limits "
        "are returned (truncated: true says more rows existed).",
        _schema(
            {"query": {"type": "string", "description": "One PostgreSQL SELECT statement."}},
            ["query"],
        ),
        sql,
    ),
    "data_quality_results": Tool(
        "data_quality_results",
        "The run's data-quality checks (Great Expectations and dbt tests) with severity.",
        _schema({"failed_only": {"type": "boolean", "description": "Only the failed checks."}}),
        data_quality_results,
    ),
    "backtest_leaderboard": Tool(
        "backtest_leaderboard",
        "Mean backtest MASE and 80% coverage per model for one hierarchy level of this run.",
        _schema({"level": LEVEL}),
        backtest_leaderboard,
    ),
    "compare_with_previous": Tool(
        "compare_with_previous",
        "Backtest MASE per level of this run next to the previously published run.",
        _schema(),
        compare_with_previous,
    ),
    "coherence": Tool(
        "coherence",
        "How far the reconciled chain forecast is from the sum of the bottom forecasts.",
        _schema(),
        coherence,
    ),
    "drift_metrics": Tool(
        "drift_metrics",
        "The latest drift check's nodes (drifted only by default) with error ratio and bias.",
        _schema(
            {"drifted_only": {"type": "boolean", "description": "Only drifted nodes (default)."}}
        ),
        drift_metrics,
    ),
    "summarise_series": Tool(
        "summarise_series",
        "Weekly means of one node's served forecast and of its actuals so far.",
        _schema(
            {
                "level": LEVEL,
                "node_key": {
                    "type": "string",
                    "description": "The node: 'chain', a region, a restaurant id, or ids joined "
                    "with '/' (e.g. 'R0001/S0003' at restaurant_sku).",
                },
            },
            ["level", "node_key"],
        ),
        summarise_series,
    ),
    "feature_importances": Tool(
        "feature_importances",
        "Feature importances (share of gain) of this run's global models, per model.",
        _schema(),
        feature_importances,
    ),
    "trigger_retrain": Tool(
        "trigger_retrain",
        "Request a new forecast_pipeline run because the published forecast drifted.",
        _schema(
            {"reason": {"type": "string", "description": "Why, with the evidence, briefly."}},
            ["reason"],
        ),
        trigger_retrain,
    ),
}


def call(tool: Tool, ctx: Context, raw_input) -> str:
    """Run a tool on model-supplied input, validated against the tool's own JSON schema first
    (``{"failed_only": "no"}`` is an error, not a truthy string); raises ValueError saying what
    is wrong, which the loop returns to the model as an ``is_error`` tool_result."""
    if not isinstance(raw_input, dict):
        raise ValueError(f"tool input must be a JSON object, got {type(raw_input).__name__}")
    allowed = set(tool.input_schema.get("properties", {}))
    missing = [k for k in tool.input_schema.get("required", []) if k not in raw_input]
    unknown = [k for k in raw_input if k not in allowed]
    if missing or unknown:
        raise ValueError(f"bad input for {tool.name}: missing {missing}, unknown {unknown}")
    try:
        jsonschema.validate(raw_input, tool.input_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "input"
        raise ValueError(f"bad input for {tool.name}: {where}: {exc.message}") from None
    return json.dumps(tool.fn(ctx, **raw_input), default=str)
