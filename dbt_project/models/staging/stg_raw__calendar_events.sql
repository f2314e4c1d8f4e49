with

source as (
    select * from {{ source('raw', 'calendar_events') }}
),

renamed as (
    select
        event_date,
        trim(name) as event_name,
        trim(region) as region,
        restaurant_id,
        expected_effect,
        known_since,
        batch_id
    from source
)

select * from renamed
