"""Read-only tools the reviewers call. Each is deterministic Python with a JSON schema.

The SQL tool connects as the read-only role ``frycast_reader`` inside a READ ONLY transaction with
a statement timeout and a row limit: a reviewer can look at anything in the marts and forecast
tables and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from frycast.db import read_only


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

    url: str
    run_id: int
    sql_timeout_ms: int = 5000
    row_limit: int = 200
    requests: list[dict] = field(default_factory=list)  # actions a tool asked for (retrain)


def _rows(ctx: Context, query: str, params: tuple = (), as_reader: bool = True) -> dict:
    """Rows of a read-only query; model-written SQL always runs as the read-only role."""
    with read_only(ctx.url, ctx.sql_timeout_ms, as_reader=as_reader) as conn:
        cur = conn.execute(query, params)
        cols = [d.name for d in cur.description] if cur.description else []
        rows = cur.fetchmany(ctx.row_limit + 1)
    truncated = len(rows) > ctx.row_limit
    return {
        "columns": cols,
        "rows": [list(r) for r in rows[: ctx.row_limit]],
        "truncated": truncated,
    }


def sql(ctx: Context, query: str) -> dict:
    """A read-only query on the marts and forecast tables."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty SQL string")
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
        + " order by level, node_key",
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
    """The global model's feature importances (gain share) logged to MLflow for this run."""
    with psycopg.connect(ctx.url) as conn:
        run = conn.execute(
            "select mlflow_run_id from forecast.forecast_runs where run_id = %s", (ctx.run_id,)
        ).fetchone()
    if not run or not run[0]:
        return {"importances": {}, "note": "no MLflow run recorded for this forecast run"}
    # a fixed query on MLflow's own schema (the reader role is not granted it), still read-only
    rows = _rows(
        ctx,
        """select key, value from mlflow.latest_metrics
            where run_uuid = %s and key like '%%.importance.%%' order by value desc""",
        (run[0],),
        as_reader=False,
    )
    return {"importances": {k: v for k, v in rows["rows"]}}


def trigger_retrain(ctx: Context, reason: str) -> dict:
    """Ask for a new forecast_pipeline run (the drift flow starts it after the review)."""
    ctx.requests.append({"action": "retrain", "reason": reason})
    return {"queued": True, "reason": reason}


def _schema(props: dict | None = None, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props or {}, "required": required or []}


ALL_TOOLS = {
    "sql": Tool(
        "sql",
        "Run one read-only SQL query (PostgreSQL) on the warehouse: marts.* (fct_forecast, "
        "fct_forecast_accuracy, fct_forecast_vs_actual, fct_daily_sales, dim_*) and forecast.* "
        "tables. Writes are refused; long queries time out; at most the row limit is returned.",
        _schema({"query": {"type": "string"}}, ["query"]),
        sql,
    ),
    "data_quality_results": Tool(
        "data_quality_results",
        "The run's data-quality checks (Great Expectations and dbt tests) with severity.",
        _schema({"failed_only": {"type": "boolean"}}),
        data_quality_results,
    ),
    "backtest_leaderboard": Tool(
        "backtest_leaderboard",
        "Mean backtest MASE and 80% coverage per model for one hierarchy level of this run.",
        _schema({"level": {"type": "string"}}),
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
        _schema({"drifted_only": {"type": "boolean"}}),
        drift_metrics,
    ),
    "summarise_series": Tool(
        "summarise_series",
        "Weekly means of one node's served forecast and of its actuals so far.",
        _schema(
            {"level": {"type": "string"}, "node_key": {"type": "string"}}, ["level", "node_key"]
        ),
        summarise_series,
    ),
    "feature_importances": Tool(
        "feature_importances",
        "Feature importances of the global model of this run, from MLflow.",
        _schema(),
        feature_importances,
    ),
    "trigger_retrain": Tool(
        "trigger_retrain",
        "Request a new forecast_pipeline run because the published forecast drifted.",
        _schema({"reason": {"type": "string"}}, ["reason"]),
        trigger_retrain,
    ),
}


def call(tool: Tool, ctx: Context, raw_input) -> str:
    """Run a tool on model-supplied input; raises ValueError on malformed input."""
    if not isinstance(raw_input, dict):
        raise ValueError(f"tool input must be a JSON object, got {type(raw_input).__name__}")
    allowed = set(tool.input_schema.get("properties", {}))
    missing = [k for k in tool.input_schema.get("required", []) if k not in raw_input]
    unknown = [k for k in raw_input if k not in allowed]
    if missing or unknown:
        raise ValueError(f"bad input for {tool.name}: missing {missing}, unknown {unknown}")
    return json.dumps(tool.fn(ctx, **raw_input), default=str)
