-- The served run's next 12 months per region and per product group, next to the units sold in
-- the 12 months (365 days) up to its origin, and the change in percent. One row per level and
-- node.
-- A view, like the forecast marts it reads: a newly published run's totals show at once.
with

served as (
    select
        run_id,
        level,
        node_key,
        history_end,
        yhat
    from {{ ref('fct_forecast') }}
    where level in ('region', 'product_group')
),

next_12_months as (
    select
        level,
        node_key,
        min(run_id) as run_id,
        min(history_end) as history_end,
        sum(yhat) as next_12_months
    from served
    group by level, node_key
),

origin as (
    select max(history_end) as history_end
    from served
),

-- one scan of the year's sales, summed per region and per product group. The sales mart's own
-- region and product group, not the dimensions': a view that read dim_restaurant or dim_sku
-- would be dropped whenever a warehouse build swaps those tables, and the Overview page with it.
last_12_months as (
    select
        case when grouping(d.region) = 0 then 'region' else 'product_group' end as level,
        case when grouping(d.region) = 0 then d.region else d.product_group end as node_key,
        sum(d.units) as last_12_months
    from {{ ref('fct_daily_sales') }} as d
    cross join origin
    where d.sale_date > origin.history_end - 365 and d.sale_date <= origin.history_end
    group by grouping sets ((d.region), (d.product_group))
)

select
    n.level,
    n.node_key,
    n.run_id,
    n.history_end,
    round(n.next_12_months) as next_12_months,
    l.last_12_months,
    round((100 * (n.next_12_months / nullif(l.last_12_months, 0) - 1))::numeric, 1)::numeric(12, 1)
        as yoy_pct
from next_12_months as n
left join last_12_months as l
    on n.level = l.level and n.node_key = l.node_key
