-- Every restaurant × SKU series is one unbroken run of days from its first to its last day, so
-- lags by row are lags by day. For the stretch of each series the latest build wrote: no day is
-- missing inside it, it reaches the series' last day, and it joins on to the days kept from
-- earlier builds (after a full build, the stretch is the whole series).
with

written as (
    select
        restaurant_id,
        sku_id,
        min(sale_date) as first_written,
        max(sale_date) as last_written,
        count(*) as n_rows
    from {{ ref('fct_daily_sales') }}
    where built_through_batch_id = {{ built_through(ref('fct_daily_sales')) }}
    group by restaurant_id, sku_id
)

select
    written.*,
    ranges.active_from,
    ranges.active_to
from written
inner join {{ ref('int_series_active_ranges') }} as ranges
    on written.restaurant_id = ranges.restaurant_id and written.sku_id = ranges.sku_id
where
    written.n_rows <> written.last_written - written.first_written + 1
    or written.last_written <> ranges.active_to
    or written.first_written < ranges.active_from
    or (
        written.first_written > ranges.active_from
        and not exists (
            select 1 from {{ ref('fct_daily_sales') }} as kept
            where
                kept.restaurant_id = written.restaurant_id
                and kept.sku_id = written.sku_id
                and kept.sale_date = written.first_written - 1
        )
    )
