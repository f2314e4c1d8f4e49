with

source as (
    select * from {{ source('raw', 'price_changes') }}
),

renamed as (
    select
        sku_id,
        effective_on,
        price::numeric(10, 2) as price,
        batch_id
    from source
)

select * from renamed
