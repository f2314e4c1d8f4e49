{{ config(
    indexes=[{'columns': ['restaurant_id', 'sku_id', 'sale_date'], 'unique': true}],
) }}

with

sales as (
    select * from {{ ref('stg_raw__daily_sales') }}
),

skus as (
    select * from {{ ref('stg_raw__skus') }}
),

active_ranges as (
    select * from {{ ref('int_series_active_ranges') }}
),

restaurant_days as (
    select * from {{ ref('int_restaurant_days_reported') }}
),

closed_days as (
    select * from {{ ref('int_restaurant_closed_days') }}
),

promo_days as (
    select * from {{ ref('int_promotion_days') }}
),

spine as (
    select
        active_ranges.restaurant_id,
        active_ranges.sku_id,
        day::date as sale_date
    from active_ranges
    cross join lateral generate_series(
        active_ranges.active_from, active_ranges.active_to, interval '1 day'
    ) as day
),

joined as (
    select
        spine.restaurant_id,
        spine.sku_id,
        spine.sale_date,
        sales.units,
        sales.net_sales,
        sales.unit_price as observed_price,
        sales.on_promo as reported_promo,
        sales.batch_id,
        promo_days.discount_pct,
        skus.list_price,
        closed_days.closure_reason as scheduled_closure,
        restaurant_days.restaurant_id is not null as restaurant_reported,
        sales.restaurant_id is not null as has_sales_row
    from spine
    inner join skus on spine.sku_id = skus.sku_id
    left join sales
        on
            spine.restaurant_id = sales.restaurant_id
            and spine.sku_id = sales.sku_id
            and spine.sale_date = sales.sale_date
    left join restaurant_days
        on spine.restaurant_id = restaurant_days.restaurant_id and spine.sale_date = restaurant_days.sale_date
    left join closed_days
        on spine.restaurant_id = closed_days.restaurant_id and spine.sale_date = closed_days.closed_date
    left join promo_days
        on
            spine.restaurant_id = promo_days.restaurant_id
            and spine.sku_id = promo_days.sku_id
            and spine.sale_date = promo_days.promo_date
),

-- Closed, not zero: a scheduled closure, or a day the restaurant reported no sales of anything.
-- A day with sales was open, whatever the closure list says.
flagged as (
    select
        *,
        not has_sales_row and (scheduled_closure is not null or not restaurant_reported) as is_closed,
        count(observed_price) over (
            partition by restaurant_id, sku_id order by sale_date
        ) as price_group
    from joined
),

final as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        case when is_closed then null else coalesce(units, 0) end as units,
        case when is_closed then null else coalesce(net_sales, 0) end as net_sales,
        -- the last price seen at this restaurant, else the list price
        coalesce(
            max(observed_price) over (partition by restaurant_id, sku_id, price_group),
            list_price
        )::numeric(10, 2) as unit_price,
        coalesce(reported_promo, false) or discount_pct is not null as on_promo,
        discount_pct,
        is_closed,
        case
            when not is_closed then null
            when scheduled_closure is not null then scheduled_closure
            else 'no sales recorded'
        end as closure_reason,
        not has_sales_row and not is_closed as is_zero_filled,
        batch_id
    from flagged
)

select * from final
