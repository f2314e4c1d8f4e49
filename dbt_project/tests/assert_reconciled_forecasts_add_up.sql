-- Reconciled forecasts add up: in the newest succeeded run (the one a pipeline has just written,
-- before it may be published; earlier runs were checked when they were written), every aggregate
-- node equals the sum of its bottom (restaurant x SKU) forecasts on every day, within 1e-6
-- relative; an aggregate with no bottom rows to sum fails too.
-- depends_on: {{ source('forecast', 'forecast_runs') }}
with reconciled_rows as (
    select *
    from {{ source('forecast', 'forecast_values') }}
    where reconciled and run_id = {{ latest_succeeded_run() }}
),

reconciled as (
    select
        run_id,
        level,
        node_key,
        forecast_date,
        yhat
    from reconciled_rows
),

bottom as (
    select *
    from reconciled_rows
    where level = '{{ hierarchy_bottom_level() }}'
),

sums as (
    {{- sum_up_hierarchy('bottom', 'yhat', 'total', by=['run_id', 'forecast_date'], bottom=false) }}
)

select
    reconciled.run_id,
    reconciled.level,
    reconciled.node_key,
    reconciled.forecast_date,
    reconciled.yhat,
    sums.total
from reconciled
left join sums
    on
        reconciled.run_id = sums.run_id
        and reconciled.level = sums.level
        and reconciled.node_key = sums.node_key
        and reconciled.forecast_date = sums.forecast_date
where
    reconciled.level <> '{{ hierarchy_bottom_level() }}'
    and (
        sums.total is null
        or abs(reconciled.yhat - sums.total) > 1e-6 * greatest(abs(sums.total), 1)
    )
