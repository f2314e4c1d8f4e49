-- One row per data-quality check of a pipeline run: Great Expectations suites on the raw tables,
-- freshness, and every dbt test of the warehouse build.
-- A view: the pipeline writes a run's checks while it runs (before its gate decides), and the
-- dashboard shows them at once.
select
    run_id,
    source,
    check_name,
    table_name,
    severity,
    success,
    observed,
    details,
    checked_at
from {{ source('forecast', 'dq_results') }}
