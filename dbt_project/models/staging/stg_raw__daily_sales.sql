{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['restaurant_id', 'sku_id', 'sale_date'],
    on_schema_change='fail',
    rebuild_when=['replaced_batches'],
    indexes=[
        {'columns': ['restaurant_id', 'sku_id', 'sale_date'], 'unique': true},
        {'columns': ['batch_id']},
        {'columns': ['built_through_batch_id']},
    ],
    pre_hook=[
        "analyze {{ source('raw', 'daily_sales') }}",
        "analyze {{ source('raw', 'order_lines') }}",
    ],
) }}

{#- Incremental: a run stages only the batches loaded since the last one, and a newer batch's
    row replaces the staged row for the same restaurant, SKU and day. Batch ids only grow, so
    "newer" is "later loaded". A replaced batch (a reseed, a re-import with corrected options)
    rebuilds the table in full.

    Two sources: daily files (raw.daily_sales, one row per restaurant, SKU and day) and order-line
    exports (raw.order_lines). Order lines are summed per restaurant, SKU and day after keeping one
    line per identity (restaurant, day, order, k-th line of the item): two exports that share days
    add up, and a line both hold counts once. A day an order batch touches is summed again over
    every loaded batch's lines; its row carries the newest batch that restated the day. -#}

with

batches as (
    select batch_id from {{ source('raw', 'load_batches') }}
    where status = 'loaded' and batch_id <= {{ latest_loaded_batch() }}
),

new_batches as (
    select batch_id from batches
    {% if is_incremental() %}
        where batch_id > {{ built_through(this) }}
    {% endif %}
),

daily_rows as (
    select
        sales.restaurant_id,
        sales.sku_id,
        sales.sale_date,
        sales.units,
        sales.net_sales,
        sales.unit_price,
        sales.on_promo,
        sales.batch_id
    from {{ source('raw', 'daily_sales') }} as sales
    inner join new_batches on sales.batch_id = new_batches.batch_id
),

-- the restaurant-days new order batches touch, and the newest batch that touched each
touched_days as (
    select
        lines.restaurant_id,
        lines.sale_date,
        max(lines.batch_id) as batch_id
    from {{ source('raw', 'order_lines') }} as lines
    inner join new_batches on lines.batch_id = new_batches.batch_id
    group by lines.restaurant_id, lines.sale_date
),

-- every loaded line of those days, one per identity: the latest batch's
order_lines as (
    select distinct on (
        lines.restaurant_id, lines.sale_date, lines.order_number, lines.sku_id, lines.occurrence
    )
        lines.restaurant_id,
        lines.sale_date,
        lines.sku_id,
        lines.units,
        lines.unit_price,
        touched_days.batch_id
    from {{ source('raw', 'order_lines') }} as lines
    inner join batches on lines.batch_id = batches.batch_id
    inner join touched_days
        on lines.restaurant_id = touched_days.restaurant_id and lines.sale_date = touched_days.sale_date
    order by
        lines.restaurant_id asc,
        lines.sale_date asc,
        lines.order_number asc,
        lines.sku_id asc,
        lines.occurrence asc,
        lines.batch_id desc
),

order_days as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        sum(units)::integer as units,
        -- a day with an unpriced line has unknown net sales: null, never a partial sum
        case when count(unit_price) = count(*) then sum(units * unit_price) end as net_sales,
        case
            when count(unit_price) = count(*) and sum(units) > 0
                then round(sum(units * unit_price) / sum(units), 2)
        end as unit_price,
        false as on_promo,
        max(batch_id) as batch_id
    from order_lines
    group by restaurant_id, sku_id, sale_date
),

-- A corrected file for the same days lands as a later batch: the latest loaded batch wins.
latest as (
    select distinct on (restaurant_id, sku_id, sale_date) *
    from (
        select * from daily_rows
        union all
        select * from order_days
    ) as reported
    order by restaurant_id asc, sku_id asc, sale_date asc, batch_id desc
),

renamed as (
    select
        restaurant_id,
        sku_id,
        sale_date,
        units,
        net_sales::numeric(12, 2) as net_sales,
        unit_price::numeric(10, 2) as unit_price,
        on_promo,
        batch_id,
        {{ latest_loaded_batch() }} as built_through_batch_id
    from latest
)

select * from renamed
