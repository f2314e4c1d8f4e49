with

source as (
    select * from {{ source('raw', 'skus') }}
),

renamed as (
    select
        sku_id,
        trim(name) as sku_name,
        trim(product_group) as product_group,
        list_price::numeric(10, 2) as list_price,
        launched_on,
        discontinued_on,
        batch_id
    from source
)

select * from renamed
