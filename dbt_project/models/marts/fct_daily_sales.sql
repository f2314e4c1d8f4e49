{{ config(
    indexes=[
        {'columns': ['restaurant_id', 'sku_id', 'sale_date'], 'unique': true},
        {'columns': ['sale_date']},
    ],
) }}

with

spine as (
    select * from {{ ref('int_sales_spine_completed') }}
),

restaurants as (
    select * from {{ ref('stg_raw__restaurants') }}
),

skus as (
    select * from {{ ref('stg_raw__skus') }}
),

final as (
    select
        -- identifiers
        spine.restaurant_id,
        spine.sku_id,
        spine.sale_date,
        -- dimensions (denormalised: the hierarchy levels planners slice by)
        restaurants.region,
        skus.product_group,
        -- facts
        spine.units,
        spine.net_sales,
        spine.unit_price,
        spine.on_promo,
        spine.discount_pct,
        -- metadata
        spine.is_closed,
        spine.closure_reason,
        spine.is_zero_filled,
        spine.batch_id
    from spine
    inner join restaurants on spine.restaurant_id = restaurants.restaurant_id
    inner join skus on spine.sku_id = skus.sku_id
)

select * from final
