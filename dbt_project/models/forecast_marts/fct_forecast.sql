-- The served forecast: every level of the hierarchy, day by day, from the latest published run
-- (or the run chosen with --vars '{forecast_run_id: N}'). Reconciled rows when the run was
-- reconciled, so the levels add up; the model each node's base forecast came from.
with runs as (
    select * from {{ source('forecast', 'forecast_runs') }}
),

chosen_run as (
    select
        runs.run_id,
        runs.history_end,
        runs.published_at,
        -- restaurants forecast across a gap in their data (FRYCAST_STALE_RESTAURANTS=forecast)
        coalesce(runs.config -> 'bridged_restaurants', '{}'::jsonb) as bridged,
        coalesce(runs.config ->> 'reconciler', 'none') <> 'none' as is_reconciled
    from runs
    where runs.run_id = {{ served_run_id() }}
),

selection as (
    select
        run_id,
        level,
        node_key,
        model as base_model
    from {{ source('forecast', 'model_selection') }}
),

-- planners' overrides, held and reconciled around (the run's latest application)
adjusted as (
    select * from {{ source('forecast', 'adjusted_values') }}
)

select
    v.run_id,
    v.level,
    v.node_key,
    v.restaurant_id,
    v.sku_id,
    v.product_group,
    v.region,
    v.forecast_date,
    -- the served forecast: adjusted where an override moved it, else the statistical one
    {{ served_forecast_columns('v', 'a') }},
    v.p_open,
    -- a day the restaurant is certain to be closed (a scheduled or recurring closure): 0 units
    coalesce(v.p_open = 0, false) as is_closed,
    v.model,
    s.base_model,
    v.reconciled,
    r.history_end,
    r.published_at,
    (v.forecast_date - r.history_end) as horizon_day,
    (r.bridged ->> v.restaurant_id)::date as data_ends_on,
    r.history_end - (r.bridged ->> v.restaurant_id)::date as history_gap_days
from {{ source('forecast', 'forecast_values') }} as v
inner join chosen_run as r
    on v.run_id = r.run_id and v.reconciled = r.is_reconciled
left join selection as s
    on v.run_id = s.run_id and v.level = s.level and v.node_key = s.node_key
left join adjusted as a
    on
        v.run_id = a.run_id
        and v.level = a.level
        and v.node_key = a.node_key
        and v.forecast_date = a.forecast_date
