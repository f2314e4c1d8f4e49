-- A bridged restaurant's data ends on or before its run's history end, so the forecast's
-- `history_gap_days` is never negative. Checked once per run and restaurant on the runs' config,
-- which the column is computed from, not on the millions of forecast rows repeating it (that
-- scan took 34 s of a weekly rerun on the chain tier).
with bridged as (
    select
        runs.run_id,
        runs.history_end,
        restaurant.key as restaurant_id,
        restaurant.value::date as data_ends_on
    from {{ source('forecast', 'forecast_runs') }} as runs
    cross join
        lateral jsonb_each_text(
            coalesce(runs.config -> 'bridged_restaurants', '{}'::jsonb)
        ) as restaurant
)

select
    run_id,
    restaurant_id,
    data_ends_on,
    history_end
from bridged
where data_ends_on > history_end
