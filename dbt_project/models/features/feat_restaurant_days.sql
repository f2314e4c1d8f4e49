{{ config(
    indexes=[{'columns': ['restaurant_id', 'calendar_day'], 'unique': true}],
) }}

-- Was each restaurant open, day by day: every day of its data window (open when it reported and
-- no closure was scheduled), then the closures scheduled after its last reported day (known
-- ahead, so forecasts are 0 on them). The forecasting flow learns each restaurant's open/closed
-- pattern from the history part (ml/openness.py).
with

restaurant_days as (
    select * from {{ ref('int_restaurant_days') }}
),

closed_days as (
    select * from {{ ref('int_restaurant_closed_days') }}
),

last_days as (
    select
        restaurant_id,
        max(calendar_day) as last_data_date
    from restaurant_days
    group by restaurant_id
),

history as (
    select
        restaurant_id,
        calendar_day,
        is_reported and scheduled_closure is null as is_open,
        scheduled_closure as closure_reason,
        false as is_future
    from restaurant_days
),

scheduled_ahead as (
    select
        closed_days.restaurant_id,
        closed_days.closed_date as calendar_day,
        false as is_open,
        closed_days.closure_reason,
        true as is_future
    from closed_days
    inner join last_days on closed_days.restaurant_id = last_days.restaurant_id
    where closed_days.closed_date > last_days.last_data_date
)

select * from history
union all
select * from scheduled_ahead
