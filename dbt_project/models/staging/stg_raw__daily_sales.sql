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
    pre_hook="analyze {{ source('raw', 'daily_sales') }}",
) }}

{#- Incremental: a run stages only the batches loaded since the last one, and a newer batch's
    row replaces the staged row for the same restaurant, SKU and day. Batch ids only grow, so
    "newer" is "later loaded". A reseed replaces batches: then the table is rebuilt in full. -#}

with

source as (
    select * from {{ source('raw', 'daily_sales') }}
),

loaded_batches as (
    select batch_id from {{ source('raw', 'load_batches') }}
    where
        status = 'loaded'
        and batch_id <= {{ latest_loaded_batch() }}
        {% if is_incremental() %}
            and batch_id > {{ built_through(this) }}
        {% endif %}
),

-- A corrected file for the same days lands as a later batch: the latest loaded batch wins.
latest as (
    select distinct on (source.restaurant_id, source.sku_id, source.sale_date) source.*
    from source
    inner join loaded_batches on source.batch_id = loaded_batches.batch_id
    order by source.restaurant_id asc, source.sku_id asc, source.sale_date asc, source.batch_id desc
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
