-- From the first day with sales to the last plus the forecast horizon (var calendar_days_ahead).
with

bounds as (
    select
        coalesce(min(sale_date), current_date) as first_day,
        coalesce(max(sale_date), current_date) + {{ var('calendar_days_ahead') }} as last_day
    from {{ ref('int_restaurant_days_reported') }}
),

days as (
    select day::date as date_day
    from bounds
    cross join lateral generate_series(first_day, last_day, interval '1 day') as day
),

holidays as (
    select
        holiday_date,
        string_agg(distinct holiday_names, '; ') as holiday_names,
        array_agg(region order by region) as holiday_regions
    from {{ ref('dim_holiday') }}
    group by holiday_date
),

final as (
    select
        -- identifiers
        days.date_day,
        -- dimensions
        extract(isoyear from days.date_day)::integer as iso_year,
        extract(week from days.date_day)::integer as iso_week,
        extract(year from days.date_day)::integer as calendar_year,
        extract(quarter from days.date_day)::integer as calendar_quarter,
        extract(month from days.date_day)::integer as month_of_year,
        to_char(days.date_day, 'FMMonth') as month_name,
        extract(day from days.date_day)::integer as day_of_month,
        extract(doy from days.date_day)::integer as day_of_year,
        extract(isodow from days.date_day)::integer as day_of_week,
        to_char(days.date_day, 'FMDay') as day_name,
        extract(isodow from days.date_day) in (6, 7) as is_weekend,
        holidays.holiday_date is not null as is_holiday_somewhere,
        holidays.holiday_names,
        coalesce(holidays.holiday_regions, array[]::text[]) as holiday_regions
    from days
    left join holidays on days.date_day = holidays.holiday_date
)

select * from final
