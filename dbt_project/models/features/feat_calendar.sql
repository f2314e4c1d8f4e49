-- Known in advance, so usable on forecast days too (dim_date runs 400 days past the last sale).
with

dates as (
    select * from {{ ref('dim_date') }}
),

regions as (
    select distinct region from {{ ref('dim_restaurant') }}
),

holidays as (
    select * from {{ ref('dim_holiday') }}
),

region_days as (
    select
        regions.region,
        dates.*,
        holidays.holiday_names as region_holiday_names,
        holidays.holiday_date is not null as is_holiday
    from regions
    cross join dates
    left join holidays
        on regions.region = holidays.region and dates.date_day = holidays.holiday_date
),

proximity as (
    select
        *,
        min(case when is_holiday then date_day end) over (
            partition by region order by date_day rows between current row and unbounded following
        ) as next_holiday,
        max(case when is_holiday then date_day end) over (
            partition by region order by date_day rows between unbounded preceding and current row
        ) as last_holiday
    from region_days
),

final as (
    select
        -- identifiers
        region,
        date_day,
        -- calendar
        day_of_week,
        day_of_month,
        day_of_year,
        iso_week,
        month_of_year,
        calendar_year,
        is_weekend,
        -- holidays of this region; proximity capped at 30 days (beyond that it carries no signal)
        is_holiday,
        region_holiday_names as holiday_names,
        coalesce(least(next_holiday - date_day, 30), 30) as days_to_next_holiday,
        coalesce(least(date_day - last_holiday, 30), 30) as days_since_last_holiday,
        -- yearly seasonality as smooth terms for models that cannot learn it from day_of_year
        sin(2 * pi() * day_of_year / 365.25) as doy_sin,
        cos(2 * pi() * day_of_year / 365.25) as doy_cos
    from proximity
)

select * from final
