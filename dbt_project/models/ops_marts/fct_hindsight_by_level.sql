-- Hindsight by hierarchy level: every published run's served forecasts against the actuals that
-- arrived since its origin, pooled over runs and days. One row per level.
-- A view, like `fct_forecast_vs_actual` it reads: a new run or new actuals show at once.
select
    level,
    count(*) as days,
    avg(abs_error)::double precision as mae,
    avg(in_interval_80::int)::double precision as coverage_80,
    (sum(error) / nullif(sum(actual), 0))::double precision as bias
from {{ ref('fct_forecast_vs_actual') }}
group by level
