-- The history the forecasting engine reads: units per restaurant, SKU and day, with why a day
-- has none. Nothing else: the engine builds its own origin-anchored features (lags, rolling
-- levels, last year's shape: ml/gbm_features.py) and reads prices, promotions, calendar and
-- events from their own feature tables, so a second copy of those here would only drift. A view
-- over fct_daily_sales: filters on restaurant and SKU reach its index.
select
    restaurant_id,
    sku_id,
    sale_date,
    units,
    is_closed,
    is_zero_filled
from {{ ref('fct_daily_sales') }}
