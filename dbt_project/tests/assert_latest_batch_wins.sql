-- When several loaded batches report the same restaurant, SKU and day, staging keeps the latest:
-- every raw row of a batch the latest build took in is staged, from that batch or a later one.
-- The oldest loaded batch is left out: its rows can only lose to newer ones, which are checked,
-- and staging holds a row for each of its days by construction. (After the first build of a chain
-- the test then costs nothing, where joining all 25 M raw rows to staging took a minute.)
with

raw_rows as (
    select sales.*
    from {{ source('raw', 'daily_sales') }} as sales
    inner join {{ source('raw', 'load_batches') }} as batches
        on sales.batch_id = batches.batch_id and batches.status = 'loaded'
    where
        sales.batch_id >= {{ first_batch_taken_in(ref('stg_raw__daily_sales')) }}
        and sales.batch_id <= {{ built_through(ref('stg_raw__daily_sales')) }}
        and sales.batch_id > {{ oldest_loaded_batch() }}
)

select
    raw_rows.restaurant_id,
    raw_rows.sku_id,
    raw_rows.sale_date,
    raw_rows.batch_id,
    staged.batch_id as staged_batch_id
from raw_rows
left join {{ ref('stg_raw__daily_sales') }} as staged
    on
        raw_rows.restaurant_id = staged.restaurant_id
        and raw_rows.sku_id = staged.sku_id
        and raw_rows.sale_date = staged.sale_date
where staged.batch_id is null or staged.batch_id < raw_rows.batch_id
