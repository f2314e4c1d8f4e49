-- What the dashboard's Adjust page needs to preview an override on the served run before it is
-- saved (the same maths the pipeline applies, ml/reconcile/immutable.py): per node, MinT's
-- weight from the served run's backtest residuals and its in-sample seasonal-naive MAE.
with runs as (
    select run_id from {{ source('forecast', 'forecast_runs') }}
    where run_id = {{ served_run_id() }}
)

select
    w.run_id,
    w.level,
    w.node_key,
    w.variance,
    w.factor,
    w.mae_scale
from {{ source('forecast', 'adjustment_weights') }} as w
inner join runs as r on w.run_id = r.run_id
