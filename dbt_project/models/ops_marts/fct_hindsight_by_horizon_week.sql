-- Hindsight by horizon week: every published run's served forecasts against the actuals that
-- arrived since its origin, at every level, pooled by how far ahead the day was (week 1 = days
-- 1-7 after the origin). One row per horizon week.
-- A view, like `fct_forecast_vs_actual` it reads: a new run or new actuals show at once.
with

runs as (
    select
        run_id,
        history_end
    from {{ source('forecast', 'forecast_runs') }}
),

compared as (
    select
        f.abs_error,
        f.in_interval_80,
        f.error,
        f.actual,
        (f.forecast_date - r.history_end - 1) / 7 + 1 as horizon_week
    from {{ ref('fct_forecast_vs_actual') }} as f
    inner join runs as r on f.run_id = r.run_id
)

select
    horizon_week,
    count(*) as days,
    avg(abs_error)::double precision as mae,
    avg(in_interval_80::int)::double precision as coverage_80,
    (sum(error) / nullif(sum(actual), 0))::double precision as bias
from compared
group by horizon_week
