with

source as (
    select * from {{ source('raw', 'holidays') }}
),

renamed as (
    select
        holiday_date,
        trim(region) as region,
        trim(name) as holiday_name
    from source
)

select * from renamed
