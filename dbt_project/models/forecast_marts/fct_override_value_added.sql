-- Forecast value added by planners' overrides: per override, once actuals arrive, the error of
-- the forecast it served (adjusted) against the statistical forecast on the override's own
-- node-days. Each day is scored with the freshest published run that held the override (the
-- last forecast served for that day), so a day counts once however many weekly runs covered it.
with

applications as (
    -- a run serves its latest application of the overrides
    select distinct on (run_id)
        application_id,
        run_id
    from {{ source('forecast', 'override_applications') }}
    order by run_id asc, application_id desc
),

overrides as (
    select * from {{ source('planning', 'overrides') }}
),

held as (
    select
        a.run_id,
        o.override_id,
        o.level,
        o.node_key,
        o.date_from,
        o.date_to
    from applications as a
    inner join {{ source('forecast', 'override_outcomes') }} as oc
        on a.application_id = oc.application_id and oc.applied
    inner join overrides as o on oc.override_id = o.override_id
),

days as (
    select
        h.override_id,
        va.run_id,
        va.forecast_date,
        va.actual,
        va.yhat as yhat_adjusted,
        va.yhat_statistical,
        w.mae_scale,
        row_number() over (
            partition by h.override_id, va.forecast_date
            order by va.history_end desc, va.run_id desc
        ) as freshness
    from held as h
    inner join {{ ref('fct_forecast_vs_actual') }} as va
        on
            h.run_id = va.run_id
            and h.level = va.level
            and h.node_key = va.node_key
            and va.forecast_date between h.date_from and h.date_to
    left join {{ source('forecast', 'adjustment_weights') }} as w
        on h.run_id = w.run_id and h.level = w.level and h.node_key = w.node_key
),

scored as (
    select
        override_id,
        count(*)::bigint as days_scored,
        sum(actual) as actual_units,
        sum(abs(yhat_statistical - actual)) as abs_error_statistical,
        sum(abs(yhat_adjusted - actual)) as abs_error_adjusted,
        sum(yhat_statistical - actual) as bias_units_statistical,
        sum(yhat_adjusted - actual) as bias_units_adjusted,
        avg(abs(yhat_statistical - actual) / nullif(mae_scale, 0)) as mase_statistical,
        avg(abs(yhat_adjusted - actual) / nullif(mae_scale, 0)) as mase_adjusted
    from days
    where freshness = 1
    group by override_id
)

select
    -- identifiers
    o.override_id,
    -- the override
    o.level,
    o.node_key,
    o.date_from,
    o.date_to,
    o.kind,
    o.value,
    o.author,
    o.reason,
    -- facts: the statistical against the adjusted forecast on the days with actuals
    s.days_scored,
    s.actual_units,
    s.abs_error_statistical,
    s.abs_error_adjusted,
    s.abs_error_statistical / s.days_scored as mae_statistical,
    s.abs_error_adjusted / s.days_scored as mae_adjusted,
    s.bias_units_statistical / nullif(s.actual_units, 0) as bias_statistical,
    s.bias_units_adjusted / nullif(s.actual_units, 0) as bias_adjusted,
    s.mase_statistical,
    s.mase_adjusted,
    -- > 0: the override made the forecast better (the share of the statistical error removed)
    1 - s.abs_error_adjusted / nullif(s.abs_error_statistical, 0) as value_added
from scored as s
inner join overrides as o on s.override_id = o.override_id
