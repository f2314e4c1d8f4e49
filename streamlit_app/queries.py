"""Every query the dashboard runs, in one place: read-only, aggregated in SQL, cached with a TTL.

The dashboard connects as the read-only login ``frycast_reader`` (FRYCAST_READER_URL, or the
warehouse's server as that login), which cannot write whatever it sends, in a READ ONLY
transaction with a statement timeout. It reads the marts only (dbt_project/models/marts,
forecast_marts and ops_marts), never the pipeline's or the loaders' tables: the business rules
(which run is served, totals, hindsight, the accuracy headline) live in dbt, where analysts read
the same numbers, and the queries here select and filter. They aggregate in the database, so the
chain tier never reaches the browser.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from frycast.levels import FRYCAST_BOTTOM, FRYCAST_LEVELS
from warehouse.db import read_only, reader_url

TTL = 300  # seconds; the Agents page asks for fresh rows while a run is in progress
# the hierarchy's levels, top to bottom (chain ... restaurant_sku)
LEVELS = [name for name, _ in FRYCAST_LEVELS] + [FRYCAST_BOTTOM[0]]


@st.cache_resource
def _url() -> str:
    return reader_url()


def frame(sql: str, params: tuple | dict = ()) -> pd.DataFrame:
    with read_only(_url(), 20_000) as conn:
        cur = conn.execute(sql, params)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


@st.cache_data(ttl=TTL)
def published_run() -> dict | None:
    df = frame(
        """select run_id, history_end, published_at, horizon_days, mlflow_run_id, pipeline,
                  reconciler, out_of_sample, evaluation_note
             from marts.fct_runs where is_served"""
    )
    return None if df.empty else df.iloc[0].to_dict()


@st.cache_data(ttl=TTL)
def runs() -> pd.DataFrame:
    return frame(
        # the state, not the recorded status: a killed run reads failed at once
        """select run_id, state as status, published, created_at, finished_at, history_end,
                  horizon_days, reconciler, reconciler_used, backtest_folds, folds_note,
                  evidence, failed_fits, not_forecast_stale, forecast_across_gap,
                  mlflow_run_id, pipeline, message
             from marts.fct_runs order by run_id desc limit 200"""
    )


@st.cache_data(ttl=TTL)
def totals_by(level: str) -> pd.DataFrame:
    """Next-12-month forecast per node of a level next to the 12 months before the origin."""
    return frame(
        """select node_key, next_12_months, last_12_months, yoy_pct
             from marts.fct_forecast_totals where level = %s
            order by next_12_months desc""",
        (level,),
    )


@st.cache_data(ttl=TTL)
def reviews(run_id: int) -> pd.DataFrame:
    return frame(
        """select agent, verdict, severity, offline, model, summary, findings,
                  recommended_actions, created_at
             from marts.fct_agent_reviews where run_id = %s order by created_at""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def accuracy_headline(run_id: int) -> pd.DataFrame:
    """The run's served forecast against seasonal naive, at the bottom level (backtest)."""
    return frame(
        """select what, mase, wql, coverage_80 from marts.fct_accuracy_headline
            where run_id = %s order by what""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def nodes(level: str, search: str = "", limit: int = 200) -> dict[str, str]:
    """A level's nodes whose key or name holds ``search`` (any case): {node_key: node_name},
    by name. Every node that has sold, whether or not the published run forecasts it."""
    df = frame(
        """select node_key, node_name from marts.dim_node
            where level = %(level)s
              and (node_key ilike %(like)s or node_name ilike %(like)s)
            order by node_name, node_key limit %(limit)s""",
        {"level": level, "like": f"%{search}%", "limit": limit},
    )
    return dict(zip(df["node_key"], df["node_name"], strict=True))


@st.cache_data(ttl=TTL)
def latest_run_with(level: str, node_key: str) -> dict | None:
    """The newest succeeded run that forecasts a node the published run leaves out (a restaurant
    whose data ends long before the others', forecast alone from its own last day)."""
    df = frame(
        """select r.run_id, r.history_end, r.message from marts.fct_runs r
            where r.state = 'succeeded' and exists (
                select 1 from marts.fct_forecast_by_run f
                 where f.run_id = r.run_id and f.level = %s and f.node_key = %s)
            order by r.run_id desc limit 1""",
        (level, node_key),
    )
    return None if df.empty else df.iloc[0].to_dict()


_NODE_FILTER = {
    "chain": "true",
    "region": "r.region = %(key)s",
    "restaurant": "d.restaurant_id = %(key)s",
    "product_group": "s.product_group = %(key)s",
    "sku": "d.sku_id = %(key)s",
    "restaurant_product_group": "d.restaurant_id || '/' || s.product_group = %(key)s",
    "restaurant_sku": "d.restaurant_id || '/' || d.sku_id = %(key)s",
}


@st.cache_data(ttl=TTL)
def node_history(level: str, node_key: str, since_days: int = 365) -> pd.DataFrame:
    """Daily actuals of one node (summed over its restaurant × SKU series)."""
    return frame(
        f"""select d.sale_date as date, sum(d.units)::float as units
              from marts.fct_daily_sales d
              join marts.dim_restaurant r on r.restaurant_id = d.restaurant_id
              join marts.dim_sku s on s.sku_id = d.sku_id
             where {_NODE_FILTER[level]}
               and d.sale_date > (select max(sale_date) from marts.fct_daily_sales)
                                 - %(days)s
             group by 1 order by 1""",
        {"key": node_key, "days": since_days},
    )


@st.cache_data(ttl=TTL)
def node_actuals(level: str, node_key: str, start, end) -> pd.DataFrame:
    """Daily actuals of one node from start to end (inclusive): last year beside a forecast."""
    return frame(
        f"""select d.sale_date as date, sum(d.units)::float as units
              from marts.fct_daily_sales d
              join marts.dim_restaurant r on r.restaurant_id = d.restaurant_id
              join marts.dim_sku s on s.sku_id = d.sku_id
             where {_NODE_FILTER[level]} and d.sale_date between %(start)s and %(end)s
             group by 1 order by 1""",
        {"key": node_key, "start": start, "end": end},
    )


@st.cache_data(ttl=TTL)
def node_forecast(level: str, node_key: str, run_id: int | None = None) -> pd.DataFrame:
    """One node's forecast: the served one, or any run's (reconciled rows if it has them)."""
    if run_id is None:
        return frame(
            """select forecast_date as date, yhat, yhat_lo80, yhat_hi80, p_open, model, base_model
                 from marts.fct_forecast where level = %s and node_key = %s
                order by forecast_date""",
            (level, node_key),
        )
    return frame(
        """select forecast_date as date, yhat, yhat_lo80, yhat_hi80, p_open, model, base_model
             from marts.fct_forecast_by_run where run_id = %s and level = %s and node_key = %s
            order by forecast_date""",
        (run_id, level, node_key),
    )


@st.cache_data(ttl=TTL)
def node_drivers(level: str, node_key: str) -> pd.DataFrame:
    """Why the served forecast of a node says what it says, per month (global models only)."""
    return frame(
        """select month, driver, units, is_base, model_units, model
             from marts.fct_forecast_drivers where level = %s and node_key = %s
            order by month, is_base desc, driver""",
        (level, node_key),
    )


@st.cache_data(ttl=TTL)
def holidays(region: str | None, start, end) -> pd.DataFrame:
    return frame(
        """select distinct holiday_date as date, holiday_names as name from marts.dim_holiday
            where (%s::text is null or region = %s) and holiday_date between %s and %s
            order by 1""",
        (region, region, start, end),
    )


@st.cache_data(ttl=TTL)
def leaderboard(run_id: int) -> pd.DataFrame:
    return frame(
        # every mean says how many series it scored and how many it could not (a fold the
        # nested protocol does not score, a new item, a failed fit: NULL, never a silent drop)
        """select level, model, round(avg(mase)::numeric, 3)::float as mase,
                  round(avg(smape)::numeric, 3)::float as smape,
                  round(avg(wql)::numeric, 3)::float as wql,
                  round(avg(coverage_80)::numeric, 3)::float as coverage_80,
                  count(distinct node_key) filter (where mase is not null) as series_scored,
                  count(distinct node_key)
                    - count(distinct node_key) filter (where mase is not null) as series_unscored
             from marts.fct_forecast_accuracy
            where run_id = %s group by 1, 2 order by 1, 3 nulls last""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def hindsight(by: str = "level") -> pd.DataFrame:
    """Published forecasts against the actuals that arrived: by level, or by horizon week."""
    if by == "level":
        return frame(
            """select level, days, mae, coverage_80, bias
                 from marts.fct_hindsight_by_level order by level"""
        )
    return frame(
        """select horizon_week, days, mae, coverage_80, bias
             from marts.fct_hindsight_by_horizon_week order by horizon_week"""
    )


@st.cache_data(ttl=TTL)
def dq_results(run_id: int) -> pd.DataFrame:
    return frame(
        """select source, check_name, table_name, severity, success, observed
             from marts.fct_dq_results where run_id = %s
            order by success, severity, check_name""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def rejected_rows(limit: int = 500) -> pd.DataFrame:
    return frame(
        """select batch_id, line_no, column_name as "column", reason, left(payload, 200) as line
             from marts.fct_rejected_rows order by batch_id desc, line_no limit %s""",
        (limit,),
    )


@st.cache_data(ttl=5)
def events(run_id: int) -> pd.DataFrame:
    return frame(
        """select agent, seq, kind, payload, at from marts.fct_agent_events
            where run_id = %s order by agent, seq""",
        (run_id,),
    )


@st.cache_data(ttl=5)
def agent_usage(run_id: int) -> pd.DataFrame:
    return frame(
        """select agent, requests, errors, retries, input_tokens, output_tokens,
                  cache_read_tokens, cache_write_tokens,
                  round(cost_usd::numeric, 4)::float as cost_usd, unpriced_responses,
                  round(seconds::numeric, 1)::float as seconds
             from marts.fct_agent_usage where run_id = %s order by started_at""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def drift_checks() -> pd.DataFrame:
    return frame(
        """select check_id, run_id, checked_at, level, nodes, drifted, error_ratio, bias
             from marts.fct_drift_checks order by check_id, level"""
    )


@st.cache_data(ttl=TTL)
def drifted_nodes(check_id: int) -> pd.DataFrame:
    return frame(
        """select level, node_key, n_days, error_ratio, bias, coverage_80, psi, ks_pvalue, reasons
             from marts.fct_drift_nodes where check_id = %s and drifted
            order by level, node_key""",
        (check_id,),
    )


@st.cache_data(ttl=TTL)
def promotions(level: str, node_key: str, start, end) -> pd.DataFrame:
    """Days in [start, end] with a planned promotion on any of the node's series."""
    return frame(
        f"""select d.promo_date as date, count(*) as items, max(d.discount_pct) as discount_pct
              from marts.fct_promotion_days d
              join marts.dim_restaurant r on r.restaurant_id = d.restaurant_id
              join marts.dim_sku s on s.sku_id = d.sku_id
             where {_NODE_FILTER[level]} and d.promo_date between %(start)s and %(end)s
             group by 1 order by 1""",
        {"key": node_key, "start": start, "end": end},
    )


@st.cache_data(ttl=30)
def overrides(in_force_only: bool = True) -> pd.DataFrame:
    """Planners' overrides with where they stand and what the served run did with each."""
    return frame(
        """select override_id, state, level, node_key, date_from, date_to, kind, value, reason,
                  author, created_at, expires_on, supersedes, is_in_force, held_in_served_run,
                  days_held, outcome
             from marts.fct_overrides"""
        + (" where is_in_force" if in_force_only else "")
        + " order by override_id desc"
    )


@st.cache_data(ttl=TTL)
def value_added() -> pd.DataFrame:
    """Forecast value added per override with actuals (fct_override_value_added)."""
    return frame(
        """select override_id, level, node_key, date_from, date_to, kind, value, author,
                  reason, days_scored, actual_units, mae_statistical, mae_adjusted,
                  bias_statistical, bias_adjusted, mase_statistical, mase_adjusted, value_added,
                  abs_error_statistical, abs_error_adjusted
             from marts.fct_override_value_added order by override_id desc"""
    )


@st.cache_data(ttl=TTL)
def forecast_range(level: str, node_key: str, start, end) -> pd.DataFrame:
    """One node's served forecast on a range, with the statistical one beside it."""
    return frame(
        """select forecast_date as date, yhat_statistical, yhat, yhat_lo80, yhat_hi80,
                  is_adjusted, is_overridden
             from marts.fct_forecast
            where level = %s and node_key = %s and forecast_date between %s and %s
            order by forecast_date""",
        (level, node_key, start, end),
    )


@st.cache_data(ttl=30)
def node_adjustment(level: str, node_key: str) -> dict:
    """How planners' overrides move one node's served forecast: days, and totals before and
    after on those days."""
    row = (
        frame(
            """select count(*) filter (where is_adjusted) as days,
                      count(*) filter (where is_overridden) as held_days,
                      coalesce(sum(yhat_statistical) filter (where is_adjusted), 0) as statistical,
                      coalesce(sum(yhat) filter (where is_adjusted), 0) as adjusted
                 from marts.fct_forecast where level = %s and node_key = %s""",
            (level, node_key),
        )
        .iloc[0]
        .to_dict()
    )
    # a row of counts and sums comes back as floats: the counts are whole days
    return {**row, "days": int(row["days"]), "held_days": int(row["held_days"])}


@st.cache_data(ttl=30, show_spinner="Previewing the adjustment…")
def override_preview(run_id: int, new: dict) -> tuple[bool, str, pd.DataFrame]:
    """What saving ``new`` would do to the served run (warehouse.overrides_io.preview), with
    the overrides in force, read as the reader from marts.fct_forecast (the statistical
    forecast) and marts.fct_adjustment_weights (MinT's weights)."""
    from ml.overrides import OVERRIDE_COLUMNS
    from warehouse.overrides_io import preview

    return preview(_url(), run_id, new, overrides()[OVERRIDE_COLUMNS].copy())
