{{ config(indexes=[{'columns': ['restaurant_id', 'sku_id'], 'unique': true}]) }}

-- An item is on sale at a restaurant from its launch (or first sale) while the restaurant is open,
-- within the restaurant's own data window: another restaurant's later data says nothing here.
with

restaurants as (
    select * from {{ ref('stg_raw__restaurants') }}
),

skus as (
    select * from {{ ref('stg_raw__skus') }}
),

restaurant_bounds as (
    select
        restaurant_id,
        min(sale_date) as first_data_date,
        max(sale_date) as last_data_date
    from {{ ref('int_restaurant_days_reported') }}
    group by restaurant_id
),

pair_bounds as (
    select * from {{ ref('int_series_sale_bounds') }}
),

final as (
    select
        pair_bounds.restaurant_id,
        pair_bounds.sku_id,
        pair_bounds.first_sale_date,
        pair_bounds.last_sale_date,
        least(
            pair_bounds.first_sale_date,
            greatest(
                restaurants.opened_on,
                coalesce(skus.launched_on, pair_bounds.first_sale_date),
                restaurant_bounds.first_data_date
            )
        ) as active_from,
        greatest(
            pair_bounds.last_sale_date,
            least(
                coalesce(restaurants.closed_on - 1, restaurant_bounds.last_data_date),
                coalesce(skus.discontinued_on - 1, restaurant_bounds.last_data_date),
                restaurant_bounds.last_data_date
            )
        ) as active_to
    from pair_bounds
    inner join restaurants on pair_bounds.restaurant_id = restaurants.restaurant_id
    inner join skus on pair_bounds.sku_id = skus.sku_id
    inner join restaurant_bounds on pair_bounds.restaurant_id = restaurant_bounds.restaurant_id
)

select * from final
