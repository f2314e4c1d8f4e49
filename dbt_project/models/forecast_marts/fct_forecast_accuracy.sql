-- Backtest accuracy of every run: by level, node, model and fold, with the run's publish state.
-- `model = 'selected'` is each node's chosen base forecast; the reconciler's name (e.g.
-- 'mint_shrink') the reconciled one; other models are the candidates. `is_served` marks the
-- forecast the run served: the only definition of that rule (the dashboard, the metric gate and
-- the drift check filter on it).
select
    m.run_id,
    r.published,
    r.history_end,
    m.level,
    m.node_key,
    m.model,
    m.model = case coalesce(r.config ->> 'reconciler', 'none')
        when 'none' then 'selected'
        else r.config ->> 'reconciler'
    end as is_served,
    m.fold,
    m.origin,
    m.horizon,
    m.n_obs,
    m.mase,
    m.smape,
    m.wql,
    m.coverage_80
from {{ source('forecast', 'backtest_metrics') }} as m
inner join {{ source('forecast', 'forecast_runs') }} as r
    on m.run_id = r.run_id
-- runs that completed: a pipeline run only once published (one killed before is not counted)
where
    r.status = 'succeeded'
    and (r.published or coalesce(r.config ->> 'pipeline', '') <> 'forecast_pipeline')
