with

source as (
    select * from {{ source('raw', 'rejected_rows') }}
),

renamed as (
    select
        batch_id,
        line_no,
        "column" as column_name,
        reason,
        payload
    from source
)

select * from renamed
