-- Known-in-advance events per restaurant and day: a region's event lands on each of its
-- restaurants. The global models read event days (and the days to and from them) as features.
with

events as (
    select * from {{ ref('stg_raw__calendar_events') }}
),

restaurants as (
    select
        restaurant_id,
        region
    from {{ ref('dim_restaurant') }}
),

restaurant_events as (
    select
        restaurants.restaurant_id,
        events.event_date,
        events.event_name,
        events.known_since
    from events
    inner join restaurants
        on
            events.restaurant_id = restaurants.restaurant_id
            or (events.restaurant_id is null and events.region = restaurants.region)
),

final as (
    select
        -- identifiers
        restaurant_id,
        event_date,
        -- the day's events, and since when the first of them was known (null: always known, so
        -- every backtest fold sees it)
        string_agg(distinct event_name, '; ' order by event_name) as event_names,
        case
            when bool_or(known_since is null) then null else min(known_since)
        end as known_since
    from restaurant_events
    group by restaurant_id, event_date
)

select * from final
