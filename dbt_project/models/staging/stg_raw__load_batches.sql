with

source as (
    select * from {{ source('raw', 'load_batches') }}
),

renamed as (
    select
        batch_id,
        source as batch_source,
        file_name,
        file_sha256,
        params,
        status,
        rows_read,
        rows_loaded,
        rows_rejected,
        message,
        started_at,
        finished_at
    from source
)

select * from renamed
