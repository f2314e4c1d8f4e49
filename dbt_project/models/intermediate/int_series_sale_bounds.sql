{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['restaurant_id', 'sku_id'],
    on_schema_change='fail',
    rebuild_when=['replaced_batches'],
    indexes=[{'columns': ['restaurant_id', 'sku_id'], 'unique': true}],
) }}

-- depends_on: {{ source('raw', 'load_batches') }}

-- The first and last day each restaurant × SKU pair has a sales row. Incremental: newly staged
-- rows widen the bounds they fall outside (a corrected day replaces a row, never removes it).
with

new_rows as (
    select
        restaurant_id,
        sku_id,
        min(sale_date) as first_sale_date,
        max(sale_date) as last_sale_date
    from {{ ref('stg_raw__daily_sales') }}
    {% if is_incremental() %}
        where batch_id > {{ built_through(this) }}
    {% endif %}
    group by restaurant_id, sku_id
)

select
    new_rows.restaurant_id,
    new_rows.sku_id,
    {% if is_incremental() %}
        least(new_rows.first_sale_date, built.first_sale_date) as first_sale_date,
        greatest(new_rows.last_sale_date, built.last_sale_date) as last_sale_date,
    {% else %}
        new_rows.first_sale_date,
        new_rows.last_sale_date,
    {% endif %}
    {{ latest_loaded_batch() }} as built_through_batch_id
from new_rows
{% if is_incremental() %}
    left join {{ this }} as built
        on new_rows.restaurant_id = built.restaurant_id and new_rows.sku_id = built.sku_id
{% endif %}
