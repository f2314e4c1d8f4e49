-- One row per forecasting run: what to believe about it now (`state`: a run whose process died
-- reads failed at once, from forecast.run_states), whether it is published and served, and what
-- its configuration says in words (the reconciler, the backtest folds it used, its evidence, the
-- models that failed on some series, the restaurants it left out or forecast across a gap).
-- A view: the pipeline writes and updates runs while it works (state, published flag and config
-- change live), and the dashboard's run list must never be stale.
with

runs as (
    select * from {{ source('forecast', 'forecast_runs') }}
),

states as (
    select
        run_id,
        state
    from {{ source('forecast', 'run_states') }}
),

described as (
    select
        runs.run_id,
        runs.status,
        runs.published,
        runs.published_at,
        runs.created_at,
        runs.finished_at,
        runs.history_end,
        runs.horizon_days,
        runs.mlflow_run_id,
        runs.model_version,
        runs.pipeline,
        runs.snapshot_uri,
        runs.message,
        runs.config,
        coalesce(runs.config ->> 'reconciler', 'none') as reconciler,
        runs.config ->> 'reconciler_used' as reconciler_used,
        (runs.config -> 'folds_used' ->> 'used')
        || ' of '
        || (runs.config -> 'folds_used' ->> 'asked') as backtest_folds,
        runs.config -> 'folds_used' ->> 'why' as folds_note,
        (runs.config -> 'evaluation' ->> 'out_of_sample')::boolean as out_of_sample,
        runs.config -> 'evaluation' ->> 'why' as evaluation_note,
        (
            select string_agg(scored.fold, ', ' order by scored.n)
            from
                jsonb_array_elements_text(runs.config -> 'evaluation' -> 'scored_folds')
                with ordinality as scored (fold, n)
        ) as scored_folds,
        (
            select
                string_agg(
                    failed.key || ' failed on '
                    || round(100 * (failed.value ->> 'failed_share')::numeric, 1) || ' % of fits'
                    || case
                        when (failed.value ->> 'excluded_from_selection')::boolean
                            then ' (not selected)'
                        else ''
                    end,
                    '; '
                )
            from jsonb_each(coalesce(runs.config -> 'fallbacks', '{}')) as failed
        ) as failed_fits,
        (
            select
                string_agg(
                    stale.key || ' (last day ' || stale.value || ')', ', ' order by stale.key
                )
            from jsonb_each_text(coalesce(runs.config -> 'stale_restaurants', '{}')) as stale
        ) as not_forecast_stale,
        (
            select
                string_agg(
                    bridged.key || ' (data ends ' || bridged.value || ')', ', '
                    order by bridged.key
                )
            from jsonb_each_text(coalesce(runs.config -> 'bridged_restaurants', '{}')) as bridged
        ) as forecast_across_gap
    from runs
),

final as (
    select
        -- identifiers
        described.run_id,
        -- state
        states.state,
        described.status,
        described.published,
        coalesce(described.run_id = {{ served_run_id() }}, false) as is_served,
        described.published_at,
        described.created_at,
        described.finished_at,
        -- what it forecast
        described.history_end,
        described.horizon_days,
        described.reconciler,
        described.reconciler_used,
        -- its evidence
        described.backtest_folds,
        described.folds_note,
        described.out_of_sample,
        described.evaluation_note,
        case described.out_of_sample
            when true
                then
                    'out of sample: folds ' || described.scored_folds
                    || ' scored with choices from earlier folds'
            when false then 'NOT out of sample: ' || described.evaluation_note
        end as evidence,
        described.failed_fits,
        described.not_forecast_stale,
        described.forecast_across_gap,
        -- where to look
        described.mlflow_run_id,
        described.model_version,
        described.pipeline,
        described.snapshot_uri,
        described.message,
        described.config
    from described
    inner join states on described.run_id = states.run_id
)

select * from final
