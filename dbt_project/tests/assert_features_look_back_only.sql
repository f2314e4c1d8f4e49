-- Lags and rolling means are computed from earlier days only: recompute them by date arithmetic.
with

features as (
    select * from {{ ref('feat_daily_sales') }}
),

sales as (
    select * from {{ ref('fct_daily_sales') }}
),

expected as (
    select
        features.restaurant_id,
        features.sku_id,
        features.sale_date,
        features.units_lag_7,
        lag7.units as expected_lag_7,
        features.units_mean_7,
        (
            select avg(earlier.units)
            from sales as earlier
            where
                earlier.restaurant_id = features.restaurant_id
                and earlier.sku_id = features.sku_id
                and earlier.sale_date between features.sale_date - 7 and features.sale_date - 1
        ) as expected_mean_7
    from features
    left join sales as lag7
        on
            features.restaurant_id = lag7.restaurant_id
            and features.sku_id = lag7.sku_id
            and features.sale_date - 7 = lag7.sale_date
    -- a deterministic sample keeps the correlated subquery cheap on the big tiers
    where hashtext(features.restaurant_id || features.sku_id || features.sale_date::text) % 997 = 0
)

select *
from expected
where
    units_lag_7 is distinct from expected_lag_7
    or abs(coalesce(units_mean_7, -1) - coalesce(expected_mean_7, -1)) > 1e-9
