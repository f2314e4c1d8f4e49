with

source as (
    select * from {{ source('raw', 'restaurants') }}
),

renamed as (
    select
        restaurant_id,
        trim(name) as restaurant_name,
        trim(region) as region,
        trim(city) as city,
        coalesce(trim(format), 'unknown') as restaurant_format,
        opened_on,
        closed_on,
        batch_id
    from source
)

select * from renamed
