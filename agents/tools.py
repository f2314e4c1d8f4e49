"""Read-only tools the reviewers call. Each is deterministic Python with a JSON schema.

Every tool reads as the reader login ``frycast_reader`` (a login that cannot write, create or read
MLflow, whatever it sends), in a READ ONLY transaction with a statement timeout, a row limit and
a byte cap. The SQL tool also runs exactly one plain SELECT (``agents.sql_guard``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import jsonschema

from agents.rules import (
    BASELINE_SLACK,
    COHERENCE_TOL,
    COVERAGE_RANGE,
    MAX_FALLBACK_SHARE,
    PREVIOUS_SLACK,
)
from agents.sql_guard import check_select
from frycast.levels import LEVEL_NAMES
from ml.error_patterns import DIMENSIONS
from ml.models import served_model
from warehouse.db import read_only, reader_url

# the metric gate's lines, as the rules draw them (agents.rules)
GATE_THRESHOLDS = {
    "bottom_mase_at_most_x_seasonal_naive": BASELINE_SLACK,
    "bottom_mase_at_most_x_last_published": PREVIOUS_SLACK,
    "bottom_coverage_80_range": list(COVERAGE_RANGE),
    "max_share_of_bottom_series_on_fallback": MAX_FALLBACK_SHARE,
    "coherence_relative_tolerance": COHERENCE_TOL,
}


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
    # the deterministic rules' verdict of this review, with the facts they decided on
    rules: dict | None = None

    @property
    def reader(self) -> str:
        return self.reader_url or reader_url(self.url)


MIN_PART_BYTES = 512  # a tool's small parts (totals, one run's row) are never cut away


def _rows(ctx: Context, query: str, params: tuple | dict = (), share: float = 1.0) -> dict:
    """Rows of a query run as the reader login: at most ``row_limit`` rows and ``share`` of
    ``byte_limit`` bytes of JSON, fetched through a server-side cursor so a large result never
    crosses. Order the query by importance: a limit cuts from the end."""
    byte_limit = max(int(ctx.byte_limit * share), MIN_PART_BYTES)
    with read_only(ctx.reader, ctx.sql_timeout_ms) as conn, conn.cursor(name="tool") as cur:
        cur.execute(query, params or None)
        cols = [d.name for d in cur.description] if cur.description else []
        rows = [list(r) for r in cur.fetchmany(ctx.row_limit + 1)]
    truncated = len(rows) > ctx.row_limit
    rows = rows[: ctx.row_limit]
    cell_cap = max(byte_limit // 8, 64)
    rows = [[_capped(v, cell_cap) for v in r] for r in rows]
    # drop rows from the end until the result fits the byte cap
    while rows and len(json.dumps(rows, default=str)) > byte_limit:
        rows = rows[: max(len(rows) * 3 // 4, len(rows) - 1)]
        truncated = True
    return {"columns": cols, "rows": rows, "truncated": truncated}


def _records(out: dict) -> list[dict]:
    return [dict(zip(out["columns"], r, strict=True)) for r in out["rows"]]


def _capped(value, cap: int):
    if isinstance(value, str) and len(value) > cap:
        return value[:cap] + f"… [{len(value) - cap} more characters]"
    return value


def sql(ctx: Context, query: str) -> dict:
    """One read-only SELECT on the marts and forecast tables, as the reader login."""
    check_select(query)
    return _rows(ctx, query)


def _dq_totals(ctx: Context) -> dict:
    (totals,) = _records(
        _rows(
            ctx,
            """select count(*) as checks, count(*) filter (where not success) as failed,
                      count(*) filter (where not success and severity = 'critical')
                          as failed_critical
                 from forecast.dq_results where run_id = %s""",
            (ctx.run_id,),
            share=0.05,
        )
    )
    return totals


def data_quality_results(ctx: Context, failed_only: bool = False) -> dict:
    """The run's checks, failures first (critical before warning), with totals."""
    totals = _dq_totals(ctx)
    checks = _rows(
        ctx,
        "select source, check_name, table_name, severity, success, observed"
        " from forecast.dq_results where run_id = %s"
        + (" and not success" if failed_only else "")
        + " order by success, severity = 'critical' desc, severity, check_name",
        (ctx.run_id,),
        share=0.9,
    )
    return {"totals": totals, **checks}


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
    """The latest drift check: totals per level, then its nodes worst first."""
    totals = _rows(
        ctx,
        """select level, count(*) as nodes, count(*) filter (where drifted) as drifted,
                  min(window_start) as window_start, max(window_end) as window_end
             from forecast.drift_metrics
            where check_id = (select max(check_id) from forecast.drift_metrics)
            group by level order by array_position(%s, level)""",
        (list(LEVEL_NAMES),),
        share=0.1,
    )
    nodes = _rows(
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
        share=0.85,
    )
    return {"totals": _records(totals), **nodes}


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


def _served(ctx: Context, run_id: int | None = None) -> str:
    """The model name the run's served forecast is scored under (``ml.models.served_model``)."""
    (row,) = _rows(
        ctx,
        "select coalesce(config ->> 'reconciler', 'none') from forecast.forecast_runs"
        " where run_id = %s",
        (ctx.run_id if run_id is None else run_id,),
        share=0.01,
    )["rows"] or [["none"]]
    return served_model(row[0])


def _previous_published(ctx: Context) -> int | None:
    rows = _rows(
        ctx,
        "select max(run_id) from forecast.forecast_runs where published and run_id < %s",
        (ctx.run_id,),
        share=0.01,
    )["rows"]
    return rows[0][0] if rows else None


def run_overview(ctx: Context) -> dict:
    """The run at a glance: what it is, what serves each segment, what failed and fell back,
    the data-quality totals, and the gate: the rules' verdict, the facts they decided on and
    their thresholds."""
    (run,) = _records(
        _rows(
            ctx,
            """select run_id, status, created_at, history_end, horizon_days, published,
                      coalesce(config ->> 'reconciler', 'none') as reconciler,
                      config ->> 'reconciler_used' as reconciler_used,
                      config -> 'evaluation' as evaluation, config -> 'folds_used' as folds_used,
                      config -> 'fallbacks' as fallbacks,
                      config -> 'stale_restaurants' as stale_restaurants
                 from forecast.forecast_runs where run_id = %s""",
            (ctx.run_id,),
            share=0.3,
        )
    ) or [{"run_id": ctx.run_id, "missing": True}]
    previous = _records(
        _rows(
            ctx,
            """select run_id, history_end, published_at from forecast.forecast_runs
                where published and run_id < %s order by run_id desc limit 1""",
            (ctx.run_id,),
            share=0.02,
        )
    )
    served = _rows(
        ctx,
        # the biggest segments first: a row limit cuts the smallest
        """select level, coalesce(segment, '-') as segment, model, count(*) as nodes,
                  round(avg(score)::numeric, 3) as mean_backtest_mase
             from forecast.model_selection where run_id = %s
            group by 1, 2, 3 order by count(*) desc, 1, 2, 3""",
        (ctx.run_id,),
        share=0.3,
    )
    return {
        "run": run,
        "served_model_name": served_model(run.get("reconciler")),
        "previous_published_run": previous[0] if previous else None,
        "served_by_segment": served,
        "data_quality": _dq_totals(ctx),
        "gate": {"rules": ctx.rules, "thresholds": GATE_THRESHOLDS},
    }


def _ratios(model: str, prefix: str = "") -> str:
    """MASE (pooled), WAPE and bias share of ``model``'s cells, from the pattern sums (the
    ratios forecast.backtest_error_patterns documents)."""
    f = f"filter (where model = {model})"
    return f"""round((sum(scaled_error) {f} / nullif(sum(n_obs) {f}, 0))::numeric, 3)
                   as {prefix}mase,
               round((sum(abs_error) {f} / nullif(sum(actual_units) {f}, 0))::numeric, 3)
                   as {prefix}wape,
               round((sum(bias) {f} / nullif(sum(actual_units) {f}, 0))::numeric, 3)
                   as {prefix}bias_share"""


def accuracy_by_horizon(ctx: Context, level: str | None = None) -> dict:
    """Backtest accuracy of the served forecast per level and horizon bucket, next to seasonal
    naive on the same node-days and to the last published run's served forecast."""
    served, previous = _served(ctx), _previous_published(ctx)
    out = _rows(
        ctx,
        f"""with this_run as (
                select level, bucket as horizon_days, bucket_order,
                       max(n_nodes) filter (where model = %(served)s) as nodes,
                       (sum(n_obs) filter (where model = %(served)s))::bigint as node_days,
                       {_ratios("%(served)s")}, {_ratios("'snaive'", "snaive_")}
                  from forecast.backtest_error_patterns
                 where run_id = %(run)s and dimension = 'horizon'
                   and (%(level)s::text is null or level = %(level)s)
                 group by level, bucket, bucket_order
            ), previous as (
                select level, bucket as horizon_days, {_ratios("%(prev_served)s", "previous_")}
                  from forecast.backtest_error_patterns
                 where run_id = %(prev)s and dimension = 'horizon'
                 group by level, bucket
            )
            select t.level, t.horizon_days, t.nodes, t.node_days, t.mase, t.wape, t.bias_share,
                   t.snaive_mase, t.snaive_wape, t.snaive_bias_share,
                   p.previous_mase as previous_published_mase
              from this_run t left join previous p using (level, horizon_days)
             order by array_position(%(levels)s, t.level), t.bucket_order""",
        {
            "served": served,
            "run": ctx.run_id,
            "level": level,
            "prev": previous,
            "prev_served": _served(ctx, previous) if previous else None,
            "levels": list(LEVEL_NAMES),
        },
    )
    note = (
        "MASE pooled over the bucket's node-days (mean |error| / in-sample seasonal-naive MAE); "
        "WAPE = sum |error| / sum actual; bias_share = sum(forecast - actual) / sum actual "
        "(negative: under-forecast). Out of sample: each fold scored with choices made on "
        "earlier folds only."
    )
    if not out["rows"]:
        note = "this run has no error patterns (a run from before they were recorded)"
    return {"served_model": served, "previous_published_run": previous, **out, "note": note}


def residual_patterns(
    ctx: Context, level: str = "restaurant_sku", dimension: str | None = None
) -> dict:
    """Where the served forecast's backtest errors sit at one level: by weekday, holiday,
    promotion and horizon bucket, each bucket's bias and error beside the level's overall and
    seasonal naive's on the same node-days; the most biased buckets first."""
    served = _served(ctx)
    params = {"served": served, "run": ctx.run_id, "level": level, "dimension": dimension}
    (overall,) = _records(
        _rows(
            ctx,
            f"""select (sum(n_obs) filter (where model = %(served)s))::bigint as node_days,
                       {_ratios("%(served)s")}
                  from forecast.backtest_error_patterns
                 where run_id = %(run)s and level = %(level)s and dimension = 'horizon'""",
            params,
            share=0.05,
        )
    )
    out = _rows(
        ctx,
        f"""select dimension, bucket,
                   (sum(n_obs) filter (where model = %(served)s))::bigint as node_days,
                   round((sum(actual_units) filter (where model = %(served)s)
                          / nullif(sum(sum(actual_units) filter (where model = %(served)s))
                                   over (partition by dimension), 0))::numeric, 3)
                       as share_of_units,
                   {_ratios("%(served)s")}, {_ratios("'snaive'", "snaive_")}
              from forecast.backtest_error_patterns
             where run_id = %(run)s and level = %(level)s
               and (%(dimension)s::text is null or dimension = %(dimension)s)
             group by dimension, bucket
             order by abs(sum(bias) filter (where model = %(served)s)
                          / nullif(sum(actual_units) filter (where model = %(served)s), 0))
                      desc nulls last, dimension, bucket""",
        params,
        share=0.9,
    )
    return {
        "level": level,
        "served_model": served,
        "overall": overall,
        **out,
        "note": "bias_share = sum(forecast - actual) / sum actual: negative under-forecasts. A "
        "bucket whose bias or WAPE stands apart from the overall (holidays under-forecast, say) "
        "is what a feature could fix. Out of sample, the same node-days for both models."
        if out["rows"]
        else "this run has no error patterns at this level",
    }


def planner_overrides(ctx: Context) -> dict:
    """Planners' overrides as this run applied them (held or why not), rejected ones first, and
    what adjustments have added so far against the statistical forecast."""
    applied = _rows(
        ctx,
        """select o.override_id, f.level, f.node_key, f.date_from, f.date_to, f.kind, f.value,
                  f.reason, f.author, o.applied, o.days, o.message
             from forecast.override_outcomes o
             left join marts.fct_overrides f using (override_id)
            where o.application_id = (select max(application_id)
                                        from forecast.override_applications where run_id = %s)
            order by o.applied, o.override_id""",
        (ctx.run_id,),
        share=0.8,
    )
    (added,) = _records(
        _rows(
            ctx,
            """select count(*) as overrides_scored, coalesce(sum(days_scored), 0) as days,
                      round((1 - sum(abs_error_adjusted)
                                 / nullif(sum(abs_error_statistical), 0))::numeric, 3)
                          as value_added
                 from marts.fct_override_value_added""",
            share=0.05,
        )
    )
    return {
        "this_run": applied,
        "value_added_so_far": added,
        "note": "An override holds its node exactly on its days and the hierarchy is reconciled "
        "around it; backtest scores are the statistical forecast's. value_added = 1 - adjusted "
        "error / statistical error on the overrides' days with actuals (negative: worse).",
    }


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


DIMENSION = {
    "type": "string",
    "enum": list(DIMENSIONS),
    "description": "Only one dimension: horizon (days ahead, bucketed), weekday, holiday (a "
    "public holiday of the node's region or not), promotion (an item on promotion or not). "
    "Leave out for all four.",
}

ALL_TOOLS = {
    "run_overview": Tool(
        "run_overview",
        "Start here. The run at a glance: its status, history end, horizon, reconciler and "
        "whether its scores are out of sample; which model serves how many nodes per level and "
        "volume segment (biggest first) with their mean backtest MASE; models that failed and "
        "the series the fallback serves; the data-quality totals; the last published run; and "
        "the gate: the deterministic rules' verdict with the facts they decided on, and their "
        "thresholds.",
        _schema(),
        run_overview,
    ),
    "accuracy_by_horizon": Tool(
        "accuracy_by_horizon",
        "Out-of-sample backtest accuracy of the served forecast per hierarchy level and horizon "
        "bucket (days 1-7, 8-28, 29-91, 92-182, 183+): MASE, WAPE and bias, beside seasonal "
        "naive on the same node-days and the last published run's MASE. Use it to judge "
        "whether the run beats the baseline at every level and how far ahead it holds up. "
        "MASE below the seasonal-naive MASE of the same row beats it.",
        _schema(
            {
                **{
                    "level": {
                        **LEVEL,
                        "description": LEVEL["description"] + " Leave out for every level.",
                    }
                }
            }
        ),
        accuracy_by_horizon,
    ),
    "residual_patterns": Tool(
        "residual_patterns",
        "Where the served forecast's out-of-sample backtest errors sit at one level: per "
        "weekday, holiday or not, promotion or not, and horizon bucket, the bias and error of "
        "each bucket beside the level's overall and seasonal naive's; the most biased buckets "
        "first. Use it to find what a feature could fix (e.g. holidays under-forecast).",
        _schema({"level": LEVEL, "dimension": DIMENSION}),
        residual_patterns,
    ),
    "data_quality_results": Tool(
        "data_quality_results",
        "The run's data-quality checks (Great Expectations expectations and dbt tests): totals "
        "(checks, failed, failed critical), then each check with its source, table, severity, "
        "success and what was observed; failures first, critical before warnings.",
        _schema(
            {
                "failed_only": {
                    "type": "boolean",
                    "description": "Only the failed checks (default false: every check).",
                }
            }
        ),
        data_quality_results,
    ),
    "backtest_leaderboard": Tool(
        "backtest_leaderboard",
        "Every model's mean backtest MASE and 80 % interval coverage at one level of this run, "
        "best first, with how many node-folds were scored ('selected' is each node's chosen "
        "model; a reconciler's name, e.g. mint_shrink, is the reconciled forecast). Use it to "
        "see which candidates came close and whether the served forecast is the best.",
        _schema(
            {"level": {**LEVEL, "description": LEVEL["description"] + " Default: the bottom."}}
        ),
        backtest_leaderboard,
    ),
    "compare_with_previous": Tool(
        "compare_with_previous",
        "Mean backtest MASE per level of this run's selected, reconciled and seasonal-naive "
        "forecasts next to the previously published run's (null where it has none). Use it to "
        "see whether this run is worse than what is served today.",
        _schema(),
        compare_with_previous,
    ),
    "coherence": Tool(
        "coherence",
        "The largest relative gap, over the forecast days, between the reconciled chain total "
        "and the sum of the reconciled bottom forecasts (0 means they add up). The rules check "
        "every level; run_overview has their result.",
        _schema(),
        coherence,
    ),
    "drift_metrics": Tool(
        "drift_metrics",
        "The latest drift check of the published forecast against the actuals since: totals "
        "per level (nodes checked, drifted), then the nodes, worst first (drifted, then error "
        "ratio and bias), each with its days, error ratio to the backtest's, bias, coverage and "
        "the reasons it was flagged.",
        _schema(
            {
                "drifted_only": {
                    "type": "boolean",
                    "description": "Only the drifted nodes (default true); false lists every "
                    "node checked.",
                }
            }
        ),
        drift_metrics,
    ),
    "summarise_series": Tool(
        "summarise_series",
        "One node's served forecast for its first 8 weeks and its actuals so far, as weekly "
        "mean units. Use it to look at a drifted or suspicious node.",
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
        "Each global model's (LightGBM, XGBoost) feature importances in this run, as a share of "
        "gain, largest first; an empty result means no global model was trained.",
        _schema(),
        feature_importances,
    ),
    "planner_overrides": Tool(
        "planner_overrides",
        "Planners' overrides this run applied: each one's node, days, kind, value, reason and "
        "author, whether it held (or why not: expired, unknown node, a conflict naming the "
        "other), rejected ones first; and the value adjustments have added so far against the "
        "statistical forecast. Use it before blaming the model for a node a planner set.",
        _schema(),
        planner_overrides,
    ),
    "trigger_retrain": Tool(
        "trigger_retrain",
        "Ask for a new forecast_pipeline run because the published forecast can no longer be "
        "trusted; the drift flow starts it after the review. Call it at most once, with the "
        "evidence.",
        _schema(
            {"reason": {"type": "string", "description": "Why, with the evidence, briefly."}},
            ["reason"],
        ),
        trigger_retrain,
    ),
    "sql": Tool(
        "sql",
        "Run exactly one read-only SELECT (PostgreSQL) on the warehouse as a login that cannot "
        "write: marts.* (fct_forecast, fct_forecast_accuracy, fct_forecast_vs_actual, "
        "fct_daily_sales, dim_*), forecast.* tables (forecast_runs, forecast_values, "
        "backtest_metrics, backtest_error_patterns, model_selection, dq_results, drift_metrics), "
        "raw.load_batches and raw.rejected_rows. Use it when no other tool has the evidence. "
        "Several statements, writes, SET/RESET, COPY, DO and functions that write or read files "
        "are refused; a query past the time limit is cancelled; at most the row and byte limits "
        "are returned (truncated: true says more rows existed).",
        _schema(
            {"query": {"type": "string", "description": "One PostgreSQL SELECT statement."}},
            ["query"],
        ),
        sql,
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
    return json.dumps(tool.fn(ctx, **raw_input), default=_plain)


def _plain(value):
    """JSON for what the database returns: numbers stay numbers (a rounded ``numeric`` is a
    Decimal), dates ISO text, anything else its text."""
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
