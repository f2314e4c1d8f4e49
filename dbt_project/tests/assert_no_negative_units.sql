-- Refunds are not negative demand: loaders reject negative quantities, and none may reach a mart.
select
    restaurant_id,
    sku_id,
    sale_date,
    units
from {{ ref('fct_daily_sales') }}
where units < 0
