-- One row per drift check and hierarchy level: how many nodes were checked and drifted, and
-- their mean error ratio and bias (the published run's forecast against the new actuals).
-- A view: the drift flow writes a check without a dbt build, and the dashboard shows it at once.
select
    check_id,
    run_id,
    level,
    min(checked_at) as checked_at,
    count(*) as nodes,
    sum(drifted::int) as drifted,
    avg(error_ratio)::double precision as error_ratio,
    avg(bias)::double precision as bias
from {{ source('forecast', 'drift_metrics') }}
group by check_id, run_id, level
