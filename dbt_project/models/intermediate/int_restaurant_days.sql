{{ config(
    indexes=[{'columns': ['restaurant_id', 'calendar_day'], 'unique': true}],
) }}

-- Every day of each restaurant's data window (its first to its last reported day), with what is
-- known about the restaurant that day: did it report any sales, in full or in part (see
-- int_restaurant_days_reported), was a closure scheduled.
-- Small (restaurants x days): the spine of fct_daily_sales reads it through its index.
with

reported as (
    select * from {{ ref('int_restaurant_days_reported') }}
),

closed_days as (
    select * from {{ ref('int_restaurant_closed_days') }}
),

bounds as (
    select
        restaurant_id,
        min(sale_date) as first_data_date,
        max(sale_date) as last_data_date
    from reported
    group by restaurant_id
),

final as (
    select
        bounds.restaurant_id,
        day::date as calendar_day,
        reported.restaurant_id is not null as is_reported,
        coalesce(not reported.is_complete, false) as is_partial,
        closed_days.closure_reason as scheduled_closure
    from bounds
    cross join lateral generate_series(bounds.first_data_date, bounds.last_data_date, interval '1 day') as day
    left join reported
        on bounds.restaurant_id = reported.restaurant_id and day::date = reported.sale_date
    left join closed_days
        on bounds.restaurant_id = closed_days.restaurant_id and day::date = closed_days.closed_date
)

select * from final
