with

source as (
    select * from {{ source('raw', 'promotions') }}
),

renamed as (
    select
        promo_id,
        restaurant_id,
        sku_id,
        starts_on,
        ends_on,
        discount_pct::numeric(5, 2) as discount_pct,
        restaurant_id is null as is_chain_wide,
        batch_id
    from source
)

select * from renamed
