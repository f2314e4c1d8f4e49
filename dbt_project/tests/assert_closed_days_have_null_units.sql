-- Closed is not zero: closed days carry null units and a reason, open days carry a number,
-- except an item missing from a day its restaurant reported only in part (unknown: null units,
-- no sales row, not zero-filled).
-- (The rows the latest build wrote: every row after a full build.)
select
    restaurant_id,
    sku_id,
    sale_date,
    is_closed,
    units,
    closure_reason,
    batch_id
from {{ ref('fct_daily_sales') }}
where
    built_through_batch_id = {{ built_through(ref('fct_daily_sales')) }}
    and (
        (is_closed and (units is not null or closure_reason is null))
        or (not is_closed and units is null and (batch_id is not null or is_zero_filled))
    )
