-- When several loaded batches report the same restaurant, SKU and day, staging keeps the latest.
with

latest as (
    select
        sales.restaurant_id,
        sales.sku_id,
        sales.sale_date,
        max(sales.batch_id) as batch_id
    from {{ source('raw', 'daily_sales') }} as sales
    inner join {{ source('raw', 'load_batches') }} as batches
        on sales.batch_id = batches.batch_id and batches.status = 'loaded'
    group by sales.restaurant_id, sales.sku_id, sales.sale_date
)

select
    latest.*,
    staged.batch_id as staged_batch_id
from latest
left join {{ ref('stg_raw__daily_sales') }} as staged
    on
        latest.restaurant_id = staged.restaurant_id
        and latest.sku_id = staged.sku_id
        and latest.sale_date = staged.sale_date
where staged.batch_id is distinct from latest.batch_id
