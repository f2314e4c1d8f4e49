with

source as (
    select * from {{ source('raw', 'restaurant_closures') }}
),

renamed as (
    select
        restaurant_id,
        closed_from,
        closed_to,
        reason as closure_reason,
        batch_id
    from source
)

select * from renamed
