-- Lags and rolling means come from earlier days only: recompute them by date arithmetic for one
-- restaurant the latest build touched (every day of every item; a filter on the restaurant reaches
-- fct_daily_sales's index through the view's windows), one day in seven.
with

checked as (
    select max(restaurant_id) as restaurant_id
    from {{ ref('fct_daily_sales') }}
    where built_through_batch_id = {{ built_through(ref('fct_daily_sales')) }}
),

sampled as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        units_lag_7,
        units_mean_7
    from {{ ref('feat_daily_sales') }}
    where
        restaurant_id = (select checked.restaurant_id from checked)
        and extract(doy from sale_date)::int % 7 = 0
),

expected as (
    select
        sampled.*,
        lag7.units as expected_lag_7,
        window7.mean_units as expected_mean_7
    from sampled
    left join {{ ref('fct_daily_sales') }} as lag7
        on
            sampled.restaurant_id = lag7.restaurant_id
            and sampled.sku_id = lag7.sku_id
            and sampled.sale_date - 7 = lag7.sale_date
    cross join lateral (
        select avg(earlier.units) as mean_units
        from {{ ref('fct_daily_sales') }} as earlier
        where
            earlier.restaurant_id = sampled.restaurant_id
            and earlier.sku_id = sampled.sku_id
            and earlier.sale_date between sampled.sale_date - 7 and sampled.sale_date - 1
    ) as window7
)

select *
from expected
where
    units_lag_7 is distinct from expected_lag_7
    or abs(coalesce(units_mean_7, -1) - coalesce(expected_mean_7, -1)) > 1e-9
