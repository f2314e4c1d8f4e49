-- Sales can only be reported for days that have happened.
select
    restaurant_id,
    sku_id,
    sale_date
from {{ ref('fct_daily_sales') }}
where
    built_through_batch_id = {{ built_through(ref('fct_daily_sales')) }}
    and sale_date > current_date
