{{ config(materialized='view') }}

-- Planned promotions by restaurant, SKU and day (known a year ahead): what the dashboard marks
-- on forecasts, and what planners filter on.
select
    restaurant_id,
    sku_id,
    promo_date,
    discount_pct::double precision as discount_pct
from {{ ref('feat_planned_promotions') }}
