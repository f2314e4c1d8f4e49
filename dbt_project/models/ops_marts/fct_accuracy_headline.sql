-- The headline of each run's backtest: the forecast it serves (`is_served` in
-- `fct_forecast_accuracy`: the reconciled one, or each node's selected base forecast when it did
-- not reconcile) against seasonal naive, at the bottom level (restaurant x SKU), averaged over
-- every scored series and fold. One row per run and model (two per run, fewer when one was not
-- scored). A view, like `fct_forecast_accuracy` it reads: a run's scores show once it has
-- succeeded.
with

scores as (
    select
        run_id,
        model,
        is_served,
        mase,
        wql,
        coverage_80
    from {{ ref('fct_forecast_accuracy') }}
    where
        level = '{{ hierarchy_bottom_level() }}'
        and (is_served or model = 'snaive')
        -- scored folds only: a fold the nested protocol does not score has no MASE
        and mase is not null
)

select
    run_id,
    case when is_served then 'frycast (served)' else 'seasonal naive' end as what,
    model,
    avg(mase) as mase,
    avg(wql) as wql,
    avg(coverage_80) as coverage_80,
    count(*) as scores
from scores
group by run_id, model, is_served
