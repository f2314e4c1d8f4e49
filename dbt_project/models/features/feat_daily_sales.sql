-- A view, computed when read: the lags and rolling windows of 28 M rows took 6.5 min to
-- materialise on the chain tier, and the forecasting flow reads only units from here (its global
-- models compute their own origin-anchored features). Filters on restaurant and SKU reach the
-- index of fct_daily_sales, so one series' features come back at once.
with

sales as (
    select * from {{ ref('fct_daily_sales') }}
),

skus as (
    select * from {{ ref('dim_sku') }}
),

calendar as (
    select * from {{ ref('feat_calendar') }}
),

-- The spine is gap-free per restaurant and SKU (tested), so a lag of n rows is a lag of n days.
-- Rolling windows end the day before: a feature never sees the day it describes.
windowed as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        region,
        units,
        unit_price,
        on_promo,
        discount_pct,
        is_closed,
        is_zero_filled,
        lag(units, 7) over w as units_lag_7,
        lag(units, 14) over w as units_lag_14,
        lag(units, 28) over w as units_lag_28,
        lag(units, 364) over w as units_lag_364,
        avg(units) over (w rows between 7 preceding and 1 preceding) as units_mean_7,
        stddev_samp(units) over (w rows between 7 preceding and 1 preceding) as units_std_7,
        avg(units) over (w rows between 28 preceding and 1 preceding) as units_mean_28,
        stddev_samp(units) over (w rows between 28 preceding and 1 preceding) as units_std_28
    from sales
    window w as (partition by restaurant_id, sku_id order by sale_date)
),

final as (
    select
        -- identifiers
        windowed.restaurant_id,
        windowed.sku_id,
        windowed.sale_date,
        -- target
        windowed.units,
        windowed.is_closed,
        windowed.is_zero_filled,
        -- price and promotion
        windowed.unit_price,
        (windowed.unit_price / nullif(skus.list_price, 0))::numeric(8, 4) as price_ratio,
        windowed.on_promo,
        coalesce(windowed.discount_pct, 0) as discount_pct,
        -- calendar and holidays of the restaurant's region
        calendar.day_of_week,
        calendar.day_of_year,
        calendar.month_of_year,
        calendar.is_weekend,
        calendar.is_holiday,
        calendar.days_to_next_holiday,
        calendar.days_since_last_holiday,
        calendar.doy_sin,
        calendar.doy_cos,
        -- history
        windowed.units_lag_7,
        windowed.units_lag_14,
        windowed.units_lag_28,
        windowed.units_lag_364,
        windowed.units_mean_7::double precision as units_mean_7,
        windowed.units_std_7::double precision as units_std_7,
        windowed.units_mean_28::double precision as units_mean_28,
        windowed.units_std_28::double precision as units_std_28
    from windowed
    inner join skus on windowed.sku_id = skus.sku_id
    inner join calendar on windowed.region = calendar.region and windowed.sale_date = calendar.date_day
)

select * from final
