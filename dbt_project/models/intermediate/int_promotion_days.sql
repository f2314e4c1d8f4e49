-- Local promotions, and chain-wide ones at every restaurant; the deepest discount wins a day.
with

promotions as (
    select * from {{ ref('stg_raw__promotions') }}
),

restaurants as (
    select * from {{ ref('stg_raw__restaurants') }}
),

final as (
    select
        restaurants.restaurant_id,
        promotions.sku_id,
        day::date as promo_date,
        max(promotions.discount_pct) as discount_pct
    from promotions
    inner join restaurants
        on promotions.restaurant_id is null or promotions.restaurant_id = restaurants.restaurant_id
    cross join lateral generate_series(promotions.starts_on, promotions.ends_on, interval '1 day') as day
    group by restaurants.restaurant_id, promotions.sku_id, day::date
)

select * from final
