{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['restaurant_id', 'sku_id', 'sale_date'],
    on_schema_change='fail',
    indexes=[{'columns': ['restaurant_id', 'sku_id', 'sale_date'], 'unique': true}],
) }}

-- depends_on: {{ ref('stg_raw__daily_sales') }}
-- depends_on: {{ ref('stg_raw__restaurant_closures') }}
-- depends_on: {{ ref('stg_raw__promotions') }}
-- depends_on: {{ ref('stg_raw__restaurants') }}

{#- Incremental runs find what changed since the last build: each restaurant with sales,
    closures or promotions from a newer loaded batch is rebuilt from its earliest changed day, after
    reading 364 + 28 days of history before it so every lag and rolling window is complete.
    A corrected file for old days therefore propagates without a full refresh. #}

with

{% if is_incremental() %}
    built as (
        select coalesce(max(built_through_batch_id), 0) as batch_id from {{ this }}
    ),

    changed as (
        select
            sales.restaurant_id,
            min(sales.sale_date) as changed_from
        from {{ ref('stg_raw__daily_sales') }} as sales
        where sales.batch_id > (select built.batch_id from built)
        group by sales.restaurant_id
        union all
        select
            closures.restaurant_id,
            min(closures.closed_from) as changed_from
        from {{ ref('stg_raw__restaurant_closures') }} as closures
        where closures.batch_id > (select built.batch_id from built)
        group by closures.restaurant_id
        union all
        select
            restaurants.restaurant_id,
            min(promotions.starts_on) as changed_from
        from {{ ref('stg_raw__promotions') }} as promotions
        inner join {{ ref('stg_raw__restaurants') }} as restaurants
            on promotions.restaurant_id is null or promotions.restaurant_id = restaurants.restaurant_id
        where promotions.batch_id > (select built.batch_id from built)
        group by restaurants.restaurant_id
    ),

    rebuild as (
        select
            restaurant_id,
            min(changed_from) as rebuild_from
        from changed
        group by restaurant_id
    ),
{% endif %}

sales as (
    select fct.*
    from {{ ref('fct_daily_sales') }} as fct
    {% if is_incremental() %}
        inner join rebuild
            on fct.restaurant_id = rebuild.restaurant_id and fct.sale_date >= rebuild.rebuild_from - (364 + 28)
    {% endif %}
),

batches as (
    select max(batch_id) as built_through_batch_id
    from {{ ref('stg_raw__load_batches') }}
    where status = 'loaded'
),

skus as (
    select * from {{ ref('dim_sku') }}
),

calendar as (
    select * from {{ ref('feat_calendar') }}
),

-- The spine is gap-free per restaurant and SKU (tested), so a lag of n rows is a lag of n days.
-- Rolling windows end the day before: a feature never sees the day it describes.
windowed as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        region,
        units,
        unit_price,
        on_promo,
        discount_pct,
        is_closed,
        is_zero_filled,
        lag(units, 7) over w as units_lag_7,
        lag(units, 14) over w as units_lag_14,
        lag(units, 28) over w as units_lag_28,
        lag(units, 364) over w as units_lag_364,
        avg(units) over (w rows between 7 preceding and 1 preceding) as units_mean_7,
        stddev_samp(units) over (w rows between 7 preceding and 1 preceding) as units_std_7,
        avg(units) over (w rows between 28 preceding and 1 preceding) as units_mean_28,
        stddev_samp(units) over (w rows between 28 preceding and 1 preceding) as units_std_28
    from sales
    window w as (partition by restaurant_id, sku_id order by sale_date)
),

final as (
    select
        -- identifiers
        windowed.restaurant_id,
        windowed.sku_id,
        windowed.sale_date,
        -- target
        windowed.units,
        windowed.is_closed,
        windowed.is_zero_filled,
        -- price and promotion
        windowed.unit_price,
        (windowed.unit_price / nullif(skus.list_price, 0))::numeric(8, 4) as price_ratio,
        windowed.on_promo,
        coalesce(windowed.discount_pct, 0) as discount_pct,
        -- calendar and holidays of the restaurant's region
        calendar.day_of_week,
        calendar.day_of_year,
        calendar.month_of_year,
        calendar.is_weekend,
        calendar.is_holiday,
        calendar.days_to_next_holiday,
        calendar.days_since_last_holiday,
        calendar.doy_sin,
        calendar.doy_cos,
        -- history
        windowed.units_lag_7,
        windowed.units_lag_14,
        windowed.units_lag_28,
        windowed.units_lag_364,
        windowed.units_mean_7::double precision as units_mean_7,
        windowed.units_std_7::double precision as units_std_7,
        windowed.units_mean_28::double precision as units_mean_28,
        windowed.units_std_28::double precision as units_std_28,
        -- metadata: the last loaded batch this row has seen (incremental runs start from it)
        batches.built_through_batch_id
    from windowed
    inner join skus on windowed.sku_id = skus.sku_id
    inner join calendar on windowed.region = calendar.region and windowed.sale_date = calendar.date_day
    cross join batches
    {% if is_incremental() %}
        inner join rebuild
            on windowed.restaurant_id = rebuild.restaurant_id and windowed.sale_date >= rebuild.rebuild_from
    {% endif %}
)

select * from final
