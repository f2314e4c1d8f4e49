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
--
-- Complete or partial: a day is reported in full when a batch behind it declared its scope
-- complete (an order-line export holds every order; a generated chain; a daily file imported
-- with --complete), or when it carries at least half the items the restaurant reported on an
-- average day of the 28 reported days before. Otherwise the day is partial: the items missing
-- from it are unknown that day, not zero.
--
-- Incremental: the days newly staged rows touch are recounted over all their staged rows, and
-- their usual count reads the table's own earlier days.

{%- set share = 0.5 %}

with

staged as (
    select * from {{ ref('stg_raw__daily_sales') }}
),

batches as (
    select * from {{ ref('stg_raw__load_batches') }}
),

{% if is_incremental() %}
    touched as (
        select distinct
            restaurant_id,
            sale_date
        from staged
        where batch_id > {{ built_through(this) }}
    ),
{% endif %}

day_items as (
    select
        staged.restaurant_id,
        staged.sale_date,
        count(*) as n_items,
        coalesce(bool_or(
            batches.batch_source in ('orders_csv', 'synthetic')
            or coalesce((batches.params ->> 'complete')::boolean, false)
        ), false) as declared_complete
    from staged
    {% if is_incremental() %}
        inner join touched
            on staged.restaurant_id = touched.restaurant_id and staged.sale_date = touched.sale_date
    {% endif %}
    left join batches on staged.batch_id = batches.batch_id
    group by staged.restaurant_id, staged.sale_date
),

-- the counts the usual is taken over: these days and, when patching, the 28 days before them
counted as (
    select
        restaurant_id,
        sale_date,
        n_items,
        declared_complete,
        true as is_new
    from day_items
    {% if is_incremental() %}
        union all
        select
            built.restaurant_id,
            built.sale_date,
            built.n_items,
            built.declared_complete,
            false as is_new
        from {{ this }} as built
        inner join (
            select
                restaurant_id,
                min(sale_date) as first_touched
            from day_items
            group by restaurant_id
        ) as firsts
            on
                built.restaurant_id = firsts.restaurant_id
                and built.sale_date >= firsts.first_touched - 28
        where not exists (
            select 1 from day_items
            where day_items.restaurant_id = built.restaurant_id and day_items.sale_date = built.sale_date
        )
    {% endif %}
),

usual as (
    select
        *,
        avg(n_items) over (
            partition by restaurant_id
            order by sale_date
            rows between 28 preceding and 1 preceding
        ) as usual_items
    from counted
)

select
    restaurant_id,
    sale_date,
    n_items::integer as n_items,
    declared_complete,
    declared_complete
    or usual_items is null
    or n_items >= {{ share }} * usual_items as is_complete,
    {{ latest_loaded_batch() }} as built_through_batch_id
from usual
where is_new
