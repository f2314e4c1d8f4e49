{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['restaurant_id', 'sale_date'],
    on_schema_change='fail',
    rebuild_when=['replaced_batches'],
    indexes=[
        {'columns': ['restaurant_id', 'sale_date'], 'unique': true},
        {'columns': ['built_through_batch_id']},
    ],
) }}

-- depends_on: {{ source('raw', 'load_batches') }}

-- The days a restaurant reported anything: its data runs from the first to the last of these,
-- and a day inside that run without any report was closed (or lost), not a day of zero sales.
-- Incremental: days of newly staged rows are added (a reported day stays reported).
select
    restaurant_id,
    sale_date,
    {{ latest_loaded_batch() }} as built_through_batch_id
from {{ ref('stg_raw__daily_sales') }}
{% if is_incremental() %}
    where batch_id > {{ built_through(this) }}
{% endif %}
group by restaurant_id, sale_date
