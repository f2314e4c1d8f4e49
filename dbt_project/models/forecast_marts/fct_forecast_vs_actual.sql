-- Hindsight accuracy: each published run's served forecasts against the actuals that arrived
-- after its forecast origin, at every level (actuals summed up the hierarchy like the forecasts:
-- macros/hierarchy.sql, over var `hierarchy_levels`).
with served as (
    select
        v.run_id,
        v.level,
        v.node_key,
        v.forecast_date,
        r.history_end,
        -- what was served: adjusted where planners' overrides moved it
        coalesce(a.yhat, v.yhat) as yhat,
        coalesce(a.yhat_lo80, v.yhat_lo80) as yhat_lo80,
        coalesce(a.yhat_hi80, v.yhat_hi80) as yhat_hi80,
        v.yhat as yhat_statistical,
        coalesce(a.is_pinned, false) as is_overridden
    from {{ source('forecast', 'forecast_values') }} as v
    inner join {{ source('forecast', 'forecast_runs') }} as r
        on
            v.run_id = r.run_id
            and r.published
            and v.reconciled = (coalesce(r.config ->> 'reconciler', 'none') <> 'none')
    left join {{ source('forecast', 'adjusted_values') }} as a
        on
            v.run_id = a.run_id
            and v.level = a.level
            and v.node_key = a.node_key
            and v.forecast_date = a.forecast_date
),

sales as (
    select
        d.restaurant_id,
        d.sku_id,
        d.sale_date,
        d.units,
        r.region,
        s.product_group
    from {{ ref('fct_daily_sales') }} as d
    inner join {{ ref('dim_restaurant') }} as r on d.restaurant_id = r.restaurant_id
    inner join {{ ref('dim_sku') }} as s on d.sku_id = s.sku_id
    where d.units is not null
),

actuals as (
    {{- sum_up_hierarchy('sales', 'units', 'actual', by=['sale_date']) }}
)

select
    served.run_id,
    served.level,
    served.node_key,
    served.forecast_date,
    served.history_end,
    served.yhat,
    served.yhat_lo80,
    served.yhat_hi80,
    served.yhat_statistical,
    served.is_overridden,
    actuals.actual::double precision as actual,
    actuals.actual - served.yhat as error,
    abs(actuals.actual - served.yhat) as abs_error,
    actuals.actual between served.yhat_lo80 and served.yhat_hi80 as in_interval_80
from served
inner join actuals
    on
        served.level = actuals.level
        and served.node_key = actuals.node_key
        and served.forecast_date = actuals.sale_date
