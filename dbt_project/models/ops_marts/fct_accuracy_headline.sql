-- The headline of each run's backtest: the forecast it serves (the reconciled one, or each
-- node's selected base forecast when it did not reconcile) against seasonal naive, at the
-- bottom level (restaurant x SKU), averaged over every scored series and fold. One row per run
-- and model (two per run, fewer when one was not scored).
-- A view, like `fct_forecast_accuracy` it reads: a run's scores show once it has succeeded.
with

runs as (
    select
        run_id,
        case coalesce(config ->> 'reconciler', 'none')
            when 'none' then 'selected'
            else config ->> 'reconciler'
        end as served_model
    from {{ source('forecast', 'forecast_runs') }}
),

scores as (
    select
        a.run_id,
        a.model,
        r.served_model,
        a.mase,
        a.wql,
        a.coverage_80
    from {{ ref('fct_forecast_accuracy') }} as a
    inner join runs as r on a.run_id = r.run_id
    where
        a.level = 'restaurant_sku'
        and a.model in (r.served_model, 'snaive')
        -- scored folds only: a fold the nested protocol does not score has no MASE
        and a.mase is not null
)

select
    run_id,
    case when model = served_model then 'frycast (served)' else 'seasonal naive' end as what,
    model,
    avg(mase) as mase,
    avg(wql) as wql,
    avg(coverage_80) as coverage_80,
    count(*) as scores
from scores
group by run_id, model, served_model
