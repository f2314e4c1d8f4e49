-- Scheduled closures expanded to days; where ranges overlap, the earliest-starting one names the day.
with

closures as (
    select * from {{ ref('stg_raw__restaurant_closures') }}
),

days as (
    select
        closures.restaurant_id,
        day::date as closed_date,
        closures.closure_reason,
        closures.closed_from
    from closures
    cross join lateral generate_series(closures.closed_from, closures.closed_to, interval '1 day') as day
)

select distinct on (restaurant_id, closed_date)
    restaurant_id,
    closed_date,
    closure_reason
from days
order by restaurant_id asc, closed_date asc, closed_from asc
