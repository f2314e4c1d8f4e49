"""Every query the dashboard runs, in one place: read-only, aggregated in SQL, cached with a TTL.

The dashboard connects as the read-only login ``frycast_reader`` (FRYCAST_READER_URL, or the
warehouse's server as that login), which cannot write whatever it sends, in a READ ONLY
transaction with a statement timeout. Queries aggregate in the database, so the chain tier never
reaches the browser.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from warehouse.db import read_only, reader_url

TTL = 300  # seconds; the Agents page asks for fresh rows while a run is in progress
LEVELS = [
    "chain",
    "region",
    "restaurant",
    "product_group",
    "sku",
    "restaurant_product_group",
    "restaurant_sku",
]


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
                  coalesce(config ->> 'reconciler', 'none') as reconciler,
                  (config -> 'evaluation' ->> 'out_of_sample')::boolean as out_of_sample,
                  config -> 'evaluation' ->> 'why' as evaluation_note
             from forecast.forecast_runs where published order by run_id desc limit 1"""
    )
    return None if df.empty else df.iloc[0].to_dict()


@st.cache_data(ttl=TTL)
def runs() -> pd.DataFrame:
    return frame(
        # the state, not the recorded status: a killed run reads failed at once
        """select r.run_id, s.state as status, r.published, r.created_at, r.finished_at,
                  r.history_end, r.horizon_days,
                  coalesce(r.config ->> 'reconciler', 'none') as reconciler,
                  r.config ->> 'reconciler_used' as reconciler_used,
                  (r.config -> 'folds_used' ->> 'used') || ' of '
                      || (r.config -> 'folds_used' ->> 'asked') as backtest_folds,
                  r.config -> 'folds_used' ->> 'why' as folds_note,
                  case (r.config -> 'evaluation' ->> 'out_of_sample')::boolean
                       when true then 'out of sample: folds '
                           || (select string_agg(v, ', ') from jsonb_array_elements_text(
                                   r.config -> 'evaluation' -> 'scored_folds') v)
                           || ' scored with choices from earlier folds'
                       when false then 'NOT out of sample: '
                           || (r.config -> 'evaluation' ->> 'why')
                  end as evidence,
                  (select string_agg(f.key || ' failed on ' || round(
                              100 * (f.value ->> 'failed_share')::numeric, 1) || ' %% of fits'
                              || case when (f.value ->> 'excluded_from_selection')::boolean
                                      then ' (not selected)' else '' end, '; ')
                     from jsonb_each(coalesce(r.config -> 'fallbacks', '{}')) as f)
                      as failed_fits,
                  (select string_agg(st.key || ' (last day ' || (st.value #>> '{}') || ')', ', '
                                     order by st.key)
                     from jsonb_each(coalesce(r.config -> 'stale_restaurants', '{}')) as st)
                      as not_forecast_stale,
                  (select string_agg(b.key || ' (data ends ' || (b.value #>> '{}') || ')', ', '
                                     order by b.key)
                     from jsonb_each(coalesce(r.config -> 'bridged_restaurants', '{}')) as b)
                      as forecast_across_gap,
                  r.mlflow_run_id, r.pipeline, r.message
             from forecast.forecast_runs r join forecast.run_states s using (run_id)
            order by r.run_id desc limit 200"""
    )


@st.cache_data(ttl=TTL)
def totals_by(level: str) -> pd.DataFrame:
    """Next-12-month forecast per node of a level next to the 12 months before the origin."""
    key = {"region": "r.region", "product_group": "s.product_group"}[level]
    return frame(
        f"""with fc as (
                select node_key, sum(yhat) as next_12_months, min(history_end) as history_end
                  from marts.fct_forecast where level = %s group by node_key),
            ly as (
                select {key} as node_key, sum(d.units) as last_12_months
                  from marts.fct_daily_sales d
                  join marts.dim_restaurant r on r.restaurant_id = d.restaurant_id
                  join marts.dim_sku s on s.sku_id = d.sku_id
                 where d.sale_date > (select max(history_end) from fc) - 365
                   and d.sale_date <= (select max(history_end) from fc)
                 group by 1)
            select fc.node_key, round(fc.next_12_months) as next_12_months,
                   ly.last_12_months,
                   round((100 * (fc.next_12_months / nullif(ly.last_12_months, 0) - 1))::numeric, 1)
                       as yoy_pct
              from fc left join ly using (node_key) order by next_12_months desc""",
        (level,),
    )


@st.cache_data(ttl=TTL)
def reviews(run_id: int) -> pd.DataFrame:
    return frame(
        """select agent, verdict, severity, offline, model, summary, findings,
                  recommended_actions, created_at
             from forecast.agent_reviews where run_id = %s order by created_at""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def accuracy_headline(run_id: int, reconciler: str) -> pd.DataFrame:
    served = reconciler if reconciler != "none" else "selected"
    return frame(
        """select case when model = %s then 'frycast (served)' else 'seasonal naive' end as what,
                  avg(mase) as mase, avg(wql) as wql, avg(coverage_80) as coverage_80
             from marts.fct_forecast_accuracy
            where run_id = %s and level = 'restaurant_sku' and model in (%s, 'snaive')
              and mase = mase
            group by 1 order by 1""",
        (served, run_id, served),
    )


@st.cache_data(ttl=TTL)
def nodes(level: str, search: str = "", limit: int = 200) -> list[str]:
    df = frame(
        """select distinct node_key from marts.fct_forecast
            where level = %s and node_key ilike %s order by node_key limit %s""",
        (level, f"%{search}%", limit),
    )
    return df["node_key"].tolist()


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
        """select forecast_date as date, yhat, yhat_lo80, yhat_hi80, p_open, model,
                  null as base_model
             from forecast.forecast_values v
            where run_id = %s and level = %s and node_key = %s
              and reconciled = (select coalesce(config ->> 'reconciler', 'none') <> 'none'
                                  from forecast.forecast_runs where run_id = %s)
            order by forecast_date""",
        (run_id, level, node_key, run_id),
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
    group = "level" if by == "level" else "((f.forecast_date - r.history_end - 1) / 7) + 1"
    return frame(
        f"""select {group} as {"level" if by == "level" else "horizon_week"},
                   count(*) as days, avg(f.abs_error)::float as mae,
                   avg(f.in_interval_80::int)::float as coverage_80,
                   (sum(f.error) / nullif(sum(f.actual), 0))::float as bias
              from marts.fct_forecast_vs_actual f
              join forecast.forecast_runs r using (run_id)
             group by 1 order by 1"""
    )


@st.cache_data(ttl=TTL)
def dq_results(run_id: int) -> pd.DataFrame:
    return frame(
        """select source, check_name, table_name, severity, success, observed
             from forecast.dq_results where run_id = %s order by success, severity, check_name""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def rejected_rows(limit: int = 500) -> pd.DataFrame:
    return frame(
        """select batch_id, line_no, "column", reason, left(payload, 200) as line
             from raw.rejected_rows order by batch_id desc, line_no limit %s""",
        (limit,),
    )


@st.cache_data(ttl=5)
def events(run_id: int) -> pd.DataFrame:
    return frame(
        """select agent, seq, kind, payload, at from forecast.agent_events
            where run_id = %s order by agent, seq""",
        (run_id,),
    )


@st.cache_data(ttl=TTL)
def drift_checks() -> pd.DataFrame:
    return frame(
        """select check_id, run_id, min(checked_at) as checked_at, level,
                  count(*) as nodes, sum(drifted::int) as drifted,
                  avg(error_ratio)::float as error_ratio, avg(bias)::float as bias
             from forecast.drift_metrics group by check_id, run_id, level
            order by check_id, level"""
    )


@st.cache_data(ttl=TTL)
def drifted_nodes(check_id: int) -> pd.DataFrame:
    return frame(
        """select level, node_key, n_days, error_ratio, bias, coverage_80, psi, ks_pvalue, reasons
             from forecast.drift_metrics where check_id = %s and drifted
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
