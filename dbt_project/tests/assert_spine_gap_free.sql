-- Every restaurant × SKU series is one unbroken run of days: lags by row are lags by day.
select
    restaurant_id,
    sku_id,
    min(sale_date) as first_day,
    max(sale_date) as last_day,
    count(*) as n_rows
from {{ ref('int_sales_spine_completed') }}
group by restaurant_id, sku_id
having count(*) <> max(sale_date) - min(sale_date) + 1
