with

holidays as (
    select * from {{ ref('stg_raw__holidays') }}
),

final as (
    select
        -- identifiers
        holiday_date,
        region,
        -- dimensions
        string_agg(holiday_name, '; ' order by holiday_name) as holiday_names
    from holidays
    group by holiday_date, region
)

select * from final
