with

skus as (
    select * from {{ ref('stg_raw__skus') }}
),

activity as (
    select
        sku_id,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date,
        count(*) as n_restaurants
    from {{ ref('int_series_active_ranges') }}
    group by sku_id
),

final as (
    select
        -- identifiers
        skus.sku_id,
        -- dimensions
        skus.sku_name,
        skus.product_group,
        skus.list_price,
        skus.launched_on,
        skus.discontinued_on,
        -- facts
        activity.first_sale_date,
        activity.last_sale_date,
        coalesce(activity.n_restaurants, 0)::integer as n_restaurants
    from skus
    left join activity on skus.sku_id = activity.sku_id
)

select * from final
