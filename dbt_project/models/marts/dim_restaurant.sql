with

restaurants as (
    select * from {{ ref('stg_raw__restaurants') }}
),

regions as (
    select * from {{ ref('stg_raw__regions') }}
),

activity as (
    select
        restaurant_id,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date,
        count(*) as n_skus
    from {{ ref('int_series_active_ranges') }}
    group by restaurant_id
),

final as (
    select
        -- identifiers
        restaurants.restaurant_id,
        -- dimensions
        restaurants.restaurant_name,
        restaurants.region,
        regions.country,
        regions.subdivision,
        restaurants.city,
        restaurants.restaurant_format,
        restaurants.opened_on,
        restaurants.closed_on,
        restaurants.closed_on is null as is_trading,
        -- facts
        activity.first_sale_date,
        activity.last_sale_date,
        coalesce(activity.n_skus, 0)::integer as n_skus
    from restaurants
    left join regions on restaurants.region = regions.region
    left join activity on restaurants.restaurant_id = activity.restaurant_id
)

select * from final
