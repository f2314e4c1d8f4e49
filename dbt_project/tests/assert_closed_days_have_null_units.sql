-- Closed is not zero: closed days carry null units and a reason, open days carry a number.
-- (The rows the latest build wrote: every row after a full build.)
select
    restaurant_id,
    sku_id,
    sale_date,
    is_closed,
    units,
    closure_reason
from {{ ref('fct_daily_sales') }}
where
    built_through_batch_id = {{ built_through(ref('fct_daily_sales')) }}
    and (
        (is_closed and (units is not null or closure_reason is null))
        or (not is_closed and units is null)
    )
