-- Every reported unit of the latest batches is in fct_daily_sales: nothing is lost by the spine.
with

staged as (
    select
        restaurant_id,
        sum(units) as units
    from {{ ref('stg_raw__daily_sales') }}
    group by restaurant_id
),

mart as (
    select
        restaurant_id,
        sum(units) as units
    from {{ ref('fct_daily_sales') }}
    group by restaurant_id
)

select
    staged.restaurant_id,
    staged.units as staged_units,
    mart.units as mart_units
from staged
left join mart on staged.restaurant_id = mart.restaurant_id
where mart.units is distinct from staged.units
