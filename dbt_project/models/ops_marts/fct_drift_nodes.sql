-- One row per drift check, level and node: the published run's forecast against the actuals
-- that arrived after its origin, and why the node drifted (if it did).
-- A view: the drift flow writes a check without a dbt build, and the dashboard shows it at once.
select
    check_id,
    run_id,
    checked_at,
    level,
    node_key,
    window_start,
    window_end,
    n_days,
    mae,
    backtest_mae,
    error_ratio,
    bias,
    coverage_80,
    psi,
    ks_pvalue,
    drifted,
    reasons
from {{ source('forecast', 'drift_metrics') }}
