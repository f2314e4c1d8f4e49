-- Every reported unit is in fct_daily_sales: each row the latest staging build wrote has its mart
-- row, with the same units (after a full build: every staged row).
with

staged as (
    select *
    from {{ ref('stg_raw__daily_sales') }}
    where built_through_batch_id = {{ built_through(ref('stg_raw__daily_sales')) }}
)

select
    staged.restaurant_id,
    staged.sku_id,
    staged.sale_date,
    staged.units as staged_units,
    mart.units as mart_units
from staged
left join {{ ref('fct_daily_sales') }} as mart
    on
        staged.restaurant_id = mart.restaurant_id
        and staged.sku_id = mart.sku_id
        and staged.sale_date = mart.sale_date
where mart.units is distinct from staged.units
