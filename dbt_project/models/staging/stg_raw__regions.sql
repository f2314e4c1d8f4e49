with

source as (
    select * from {{ source('raw', 'regions') }}
),

renamed as (
    select
        trim(region) as region,
        upper(trim(country)) as country,
        nullif(trim(subdivision), '') as subdivision
    from source
)

select * from renamed
