-- Every run's forecast as it serves (or would serve) it: one row per run, level, node and day,
-- the reconciled rows of a run that reconciled, else each node's base forecast; the model each
-- node's base forecast came from. `marts.fct_forecast` is the published run's slice of this.
-- A view: a run's rows are written while it runs, and the dashboard compares any run with the
-- served one at once.
with

runs as (
    select
        run_id,
        published,
        history_end,
        coalesce(config ->> 'reconciler', 'none') <> 'none' as is_reconciled
    from {{ source('forecast', 'forecast_runs') }}
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
    r.published,
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
    coalesce(v.p_open = 0, false) as is_closed,
    v.model,
    s.base_model,
    v.reconciled,
    r.history_end,
    (v.forecast_date - r.history_end) as horizon_day
from {{ source('forecast', 'forecast_values') }} as v
inner join runs as r
    on v.run_id = r.run_id and v.reconciled = r.is_reconciled
left join selection as s
    on v.run_id = s.run_id and v.level = s.level and v.node_key = s.node_key
left join adjusted as a
    on
        v.run_id = a.run_id
        and v.level = a.level
        and v.node_key = a.node_key
        and v.forecast_date = a.forecast_date
