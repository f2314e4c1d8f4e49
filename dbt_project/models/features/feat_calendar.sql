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

named_holidays as (
    select distinct
        region,
        holiday_date,
        holiday_name
    from {{ ref('stg_raw__holidays') }}
),

-- The same holiday's date last year (by name): Easter, Golden Week and bank-holiday Mondays move,
-- so "364 days ago" is the wrong day to compare a holiday with.
last_year_holidays as (
    select
        this_year.region,
        this_year.holiday_date,
        min(this_year.holiday_date - last_year.holiday_date) as days_back
    from named_holidays as this_year
    inner join named_holidays as last_year
        on
            this_year.region = last_year.region
            and this_year.holiday_name = last_year.holiday_name
            and last_year.holiday_date between this_year.holiday_date - 400
            and this_year.holiday_date - 330
    group by this_year.region, this_year.holiday_date
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

-- a day within 3 days of a holiday lines up with the same day around it last year (the nearest
-- holiday wins; on a tie the later one)
aligned as (
    select distinct on (region_days.region, region_days.date_day)
        region_days.region,
        region_days.date_day,
        last_year_holidays.days_back
    from region_days
    inner join last_year_holidays
        on
            region_days.region = last_year_holidays.region
            and last_year_holidays.holiday_date
            between region_days.date_day - 3 and region_days.date_day + 3
    order by
        region_days.region asc,
        region_days.date_day asc,
        abs(last_year_holidays.holiday_date - region_days.date_day) asc,
        last_year_holidays.holiday_date desc
),

proximity as (
    select
        region_days.*,
        aligned.days_back as holiday_days_back,
        min(case when region_days.is_holiday then region_days.date_day end) over (
            partition by region_days.region
            order by region_days.date_day
            rows between current row and unbounded following
        ) as next_holiday,
        max(case when region_days.is_holiday then region_days.date_day end) over (
            partition by region_days.region
            order by region_days.date_day
            rows between unbounded preceding and current row
        ) as last_holiday
    from region_days
    left join aligned
        on region_days.region = aligned.region and region_days.date_day = aligned.date_day
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
        holiday_days_back,
        -- yearly seasonality as smooth terms for models that cannot learn it from day_of_year
        sin(2 * pi() * day_of_year / 365.25) as doy_sin,
        cos(2 * pi() * day_of_year / 365.25) as doy_cos
    from proximity
)

select * from final
