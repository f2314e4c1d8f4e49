-- The series the forecasting flow works on, with the hierarchy attributes it aggregates by.
with

ranges as (
    select * from {{ ref('int_series_active_ranges') }}
),

restaurants as (
    select * from {{ ref('dim_restaurant') }}
),

skus as (
    select * from {{ ref('dim_sku') }}
),

final as (
    select
        -- identifiers
        ranges.restaurant_id,
        ranges.sku_id,
        -- hierarchy
        restaurants.region,
        skus.product_group,
        restaurants.restaurant_format,
        -- history span
        ranges.active_from as first_day,
        ranges.active_to as last_day,
        ranges.active_to - ranges.active_from + 1 as n_days,
        -- still on sale on the restaurant's last reported day: it needs a forecast
        ranges.active_to = restaurants.last_sale_date as is_active
    from ranges
    inner join restaurants on ranges.restaurant_id = restaurants.restaurant_id
    inner join skus on ranges.sku_id = skus.sku_id
)

select * from final
