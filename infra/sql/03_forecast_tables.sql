-- Tables the forecasting flow writes (COPY). dbt builds the forecast marts from them.

create table if not exists forecast.forecast_runs (
    run_id        bigint generated always as identity primary key,
    status        text        not null default 'running'
                  check (status in ('running', 'succeeded', 'publishing', 'failed')),
    created_at    timestamptz not null default now(),
    finished_at   timestamptz,
    horizon_days  integer     not null,
    history_end   date,                   -- the forecast origin: the last day of history used
    config        jsonb       not null default '{}'::jsonb,
    mlflow_run_id text,
    published     boolean     not null default false,
    message       text
);

-- One row per node of the hierarchy and day, partitioned by run: a run's rows are COPY'd into a
-- table of their own with no index, which gets its key and joins this one as the partition for
-- that run in one transaction (warehouse/forecast_store.py: as fast as a plain COPY); a run's rows
-- go with its table, not row by row. Rows written otherwise (by hand) land in the default
-- partition, forecast_values_other.
alter table if exists forecast.forecast_values add column if not exists p_open double precision;
do $$
declare
    ddl constant text := $ddl$
        create table forecast.forecast_values (
            run_id        bigint  not null
                          references forecast.forecast_runs (run_id) on delete cascade,
            level         text    not null,  -- 'restaurant_sku', 'restaurant', 'chain', ...
            node_key      text    not null,  -- 'R0001/S0007' at the bottom, 'chain' at the top
            restaurant_id text,
            sku_id        text,
            product_group text,
            region        text,
            forecast_date date    not null,
            yhat          double precision not null,  -- point forecast
            yhat_q50      double precision,           -- calibrated median
            yhat_lo80     double precision,           -- calibrated 0.1 quantile
            yhat_hi80     double precision,           -- calibrated 0.9 quantile
            model         text    not null,
            reconciled    boolean not null default false,
            p_open        double precision,           -- chance the restaurant opens
            primary key (run_id, level, node_key, reconciled, forecast_date)
        ) partition by list (run_id)$ddl$;
    runs text;
begin
    if to_regclass('forecast.forecast_values') is null then
        execute ddl;
    elsif (select relkind from pg_class where oid = 'forecast.forecast_values'::regclass) = 'r' then
        -- a warehouse from before the partitions: its rows become the partition of their runs
        alter table forecast.forecast_values rename to forecast_values_unpartitioned;
        alter table forecast.forecast_values_unpartitioned
            rename constraint forecast_values_pkey to forecast_values_unpartitioned_pkey;
        execute ddl;
        select string_agg(distinct run_id::text, ',') into runs
          from forecast.forecast_values_unpartitioned;
        if runs is null then
            drop table forecast.forecast_values_unpartitioned;
        else
            execute format('alter table forecast.forecast_values attach partition '
                           'forecast.forecast_values_unpartitioned for values in (%s)', runs);
        end if;
    end if;
end
$$;
create table if not exists forecast.forecast_values_other
    partition of forecast.forecast_values default;

-- Expanding-window backtest scores: per node, model and fold (fold 0 is the most recent origin).
create table if not exists forecast.backtest_metrics (
    run_id      bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    level       text    not null,
    node_key    text    not null,
    model       text    not null,
    fold        integer not null,
    origin      date    not null,
    horizon     integer not null,
    n_obs       integer not null,
    mase        double precision,
    smape       double precision,
    wql         double precision,         -- mean over q in {0.1, 0.5, 0.9} of 2·Σ pinball / Σ|y|
    coverage_80 double precision,
    primary key (run_id, level, node_key, model, fold)
);

-- Why each series got its model: the winner, the runner-up and every candidate's score.
create table if not exists forecast.model_selection (
    run_id          bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    level           text   not null default 'restaurant_sku',
    node_key        text   not null,
    restaurant_id   text,
    sku_id          text,
    model           text   not null,
    score           double precision,     -- mean backtest MASE of the chosen model
    runner_up       text,
    runner_up_score double precision,
    segment         text,                 -- the volume class the choice was made for
    reason          text   not null,
    scores          jsonb  not null default '{}'::jsonb,
    primary key (run_id, level, node_key)
);

-- warehouses created before selection per segment and per hierarchy level
alter table forecast.model_selection add column if not exists segment text;
alter table forecast.model_selection
    add column if not exists level text not null default 'restaurant_sku';
alter table forecast.model_selection drop constraint if exists model_selection_pkey;
alter table forecast.model_selection add primary key (run_id, level, node_key);

-- The conformal calibration of the intervals: residual quantiles per model and horizon bucket,
-- for the bottom level and for the aggregate nodes' own (base) forecasts.
create table if not exists forecast.interval_calibration (
    run_id          bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    level           text   not null default 'restaurant_sku',
    model           text   not null,
    horizon_bucket  text   not null,
    volume_class    text   not null,
    q10             double precision not null,
    q50             double precision not null,
    q90             double precision not null,
    n_residuals     integer not null,
    primary key (run_id, level, model, horizon_bucket, volume_class)
);

alter table forecast.interval_calibration
    add column if not exists level text not null default 'restaurant_sku';
alter table forecast.interval_calibration drop constraint if exists interval_calibration_pkey;
alter table forecast.interval_calibration
    add primary key (run_id, level, model, horizon_bucket, volume_class);

-- Publishing: a run is served once `published` flips (one transaction, after every row is in).
alter table forecast.forecast_runs add column if not exists published_at timestamptz;
alter table forecast.forecast_runs add column if not exists pipeline text;  -- the flow run id
-- where the published forecast's Parquet snapshot was written (warehouse.snapshots)
alter table forecast.forecast_runs add column if not exists snapshot_uri text;
-- The newest loaded batch the run's data-quality checks covered: the next run checks the rows of
-- newer batches only (loaded batches do not change; a check of every batch's row count says so).
alter table forecast.forecast_runs add column if not exists validated_through_batch_id bigint;

-- Run states: running → succeeded (rows written) → publishing → succeeded with published = true.
-- A run whose process died is failed. Warehouses from before 'publishing': swap the check.
do $$
begin
    if not exists (select from pg_constraint
                    where conrelid = 'forecast.forecast_runs'::regclass
                      and conname = 'forecast_runs_status_check'
                      and pg_get_constraintdef(oid) like '%publishing%') then
        alter table forecast.forecast_runs drop constraint if exists forecast_runs_status_check;
        alter table forecast.forecast_runs add constraint forecast_runs_status_check
            check (status in ('running', 'succeeded', 'publishing', 'failed'));
    end if;
end
$$;
-- The backend holding the run's advisory lock (the pipeline lock, or the run's own lease for
-- `frycast forecast`): the run is alive exactly while that session holds it.
alter table forecast.forecast_runs add column if not exists backend_pid integer;
-- The MLflow model version the run registered; the `champion` alias moves to it on publish.
alter table forecast.forecast_runs add column if not exists model_version text;

-- Is the run's process alive? Null when it recorded no session (a run from before leases).
-- Keys: warehouse.forecast_store.PIPELINE_LOCK (bigint) and (RUN_LEASE, run_id).
create or replace function forecast.run_alive(p_run_id bigint, p_backend_pid integer)
returns boolean
language sql stable as $fn$
    select case when p_backend_pid is null then null else exists (
        select from pg_locks l
         where l.locktype = 'advisory' and l.granted and l.pid = p_backend_pid
           and l.database = (select oid from pg_database where datname = current_database())
           and ((l.classid = 0 and l.objid = 727001 and l.objsubid = 1)
                or (l.classid = 727002 and l.objid::bigint = p_run_id and l.objsubid = 2)))
    end
$fn$;
alter function forecast.run_alive(bigint, integer) owner to frycast_owner;

-- What readers should believe: `state` is `failed` for a run whose process is gone before it
-- completed (`incomplete`: running, publishing, or a pipeline run not yet published), at once,
-- before a sweep (warehouse.forecast_store.fail_abandoned_runs) records it.
create or replace view forecast.run_states as
select
    r.run_id,
    r.status,
    r.published,
    r.backend_pid,
    a.alive,
    i.incomplete,
    case when i.incomplete and a.alive is false then 'failed' else r.status end as state
from forecast.forecast_runs r
cross join lateral (select forecast.run_alive(r.run_id, r.backend_pid) as alive) a
cross join lateral (
    select r.status in ('running', 'publishing')
           or (r.status = 'succeeded' and not r.published
               and coalesce(r.config ->> 'pipeline' = 'forecast_pipeline', false)) as incomplete
) i;

-- Data-quality results of a pipeline run: Great Expectations and dbt tests, one row per check.
create table if not exists forecast.dq_results (
    run_id       bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    source       text    not null check (source in ('great_expectations', 'dbt')),
    check_name   text    not null,         -- suite.expectation[column] or the dbt test's name
    table_name   text,
    severity     text    not null check (severity in ('critical', 'warning')),
    success      boolean not null,
    observed     text,                     -- the observed value or failing-row count
    details      jsonb   not null default '{}'::jsonb,
    checked_at   timestamptz not null default now(),
    primary key (run_id, source, check_name)
);

-- Drift checks of the published forecast against new actuals, per node (and per level).
create table if not exists forecast.drift_metrics (
    check_id        bigint  not null,
    run_id          bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    checked_at      timestamptz not null default now(),
    level           text    not null,
    node_key        text    not null,
    window_start    date    not null,
    window_end      date    not null,
    n_days          integer not null,
    mae             double precision,      -- of the published forecast on the new actuals
    backtest_mae    double precision,      -- what the backtests promised for the same horizon
    error_ratio     double precision,      -- mae / backtest_mae
    bias            double precision,      -- mean(actual - forecast) / mean(actual)
    coverage_80     double precision,
    psi             double precision,      -- daily units: new window vs the training window
    ks_pvalue       double precision,      -- two-sample KS test of the same
    drifted         boolean not null,
    reasons         text,
    primary key (check_id, level, node_key)
);
alter table forecast.drift_metrics add column if not exists ks_pvalue double precision;
create sequence if not exists forecast.drift_check_id;

-- Gate verdicts, append-only: one row per review, keyed by what was reviewed (the pipeline run,
-- and for a drift triage the drift check), never overwritten or deleted by a later review.
-- `verdict` is what the gate decided: the deterministic rules' verdict (`rules_verdict`), made
-- stricter by the agent's (`agent_verdict`) but never looser.
create table if not exists forecast.agent_reviews (
    review_id   bigint  generated always as identity primary key,
    run_id      bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    agent       text    not null,          -- 'data_quality', 'metrics', 'features', 'drift'
    verdict     text    not null,          -- proceed / halt, publish / hold, retrain / keep
    summary     text    not null,
    findings    jsonb   not null default '[]'::jsonb,
    model       text    not null,          -- the Claude model, or 'rules' for the offline gate
    offline     boolean not null,          -- true: a deterministic review, no model was asked
    created_at  timestamptz not null default now()
);
alter table forecast.agent_reviews add column if not exists severity text;
alter table forecast.agent_reviews add column if not exists recommended_actions jsonb;
alter table forecast.agent_reviews add column if not exists check_id bigint;  -- drift check
alter table forecast.agent_reviews add column if not exists rules_verdict text;
alter table forecast.agent_reviews add column if not exists agent_verdict text;
-- warehouses from before: one review per (run, agent) was kept and overwritten
do $$
begin
    if not exists (select from information_schema.columns
                    where table_schema = 'forecast' and table_name = 'agent_reviews'
                      and column_name = 'review_id') then
        alter table forecast.agent_reviews drop constraint if exists agent_reviews_pkey;
        alter table forecast.agent_reviews
            add column review_id bigint generated always as identity primary key;
    end if;
end
$$;
create index if not exists agent_reviews_run on forecast.agent_reviews (run_id, agent);

-- Every step of every review, in order: requests (no secrets), responses (the API's message id
-- and token usage), tool calls and their full results (size and sha256 past a cap), errors.
create table if not exists forecast.agent_events (
    event_id  bigint  generated always as identity primary key,
    review_id bigint,
    run_id    bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    agent     text    not null,
    seq       integer not null,
    kind      text    not null,   -- request, response, tool_call, tool_result, error, verdict
    payload   jsonb   not null,
    at        timestamptz not null default now()
);
alter table forecast.agent_events add column if not exists review_id bigint;
do $$
begin
    if not exists (select from information_schema.columns
                    where table_schema = 'forecast' and table_name = 'agent_events'
                      and column_name = 'event_id') then
        alter table forecast.agent_events drop constraint if exists agent_events_pkey;
        alter table forecast.agent_events
            add column event_id bigint generated always as identity primary key;
        update forecast.agent_events e set review_id = r.review_id
          from forecast.agent_reviews r
         where e.review_id is null and r.run_id = e.run_id and r.agent = e.agent;
    end if;
end
$$;
create index if not exists agent_events_review on forecast.agent_events (review_id, seq);
create index if not exists agent_events_run on forecast.agent_events (run_id, agent);

-- The trail only grows: rows are never updated, and deleted only with their run.
create or replace function forecast.refuse_audit_change() returns trigger
language plpgsql as $fn$
begin
    if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
        return old;  -- the cascade of deleting a whole forecast run
    end if;
    raise exception 'forecast.% is append-only: a review is never % (add a new one)',
        tg_table_name, lower(tg_op) || 'd';
end
$fn$;
alter function forecast.refuse_audit_change() owner to frycast_owner;
drop trigger if exists agent_reviews_append_only on forecast.agent_reviews;
create trigger agent_reviews_append_only before update or delete on forecast.agent_reviews
    for each row execute function forecast.refuse_audit_change();
drop trigger if exists agent_events_append_only on forecast.agent_events;
create trigger agent_events_append_only before update or delete on forecast.agent_events
    for each row execute function forecast.refuse_audit_change();

-- The global models' feature importances (gain share) of a run, beside MLflow's copy: readable
-- by the reader login (the agents' feature advisor), which has no access to MLflow's schema.
create table if not exists forecast.feature_importances (
    run_id     bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    model      text   not null,
    feature    text   not null,
    importance double precision not null,
    primary key (run_id, model, feature)
);

-- Why a global model's forecast is what it is: per node it serves and month, the base (its
-- recent daily level) and each driver group's TreeSHAP contribution in units (ml/drivers.py);
-- base and drivers add up to the model's prediction.
create table if not exists forecast.forecast_drivers (
    run_id   bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    level    text   not null,
    node_key text   not null,
    month    date   not null,
    model    text   not null,
    driver   text   not null,
    units    double precision not null,
    primary key (run_id, level, node_key, month, driver)
);

-- Where a run's backtest errors sit (ml/error_patterns.py): per level, model (the served one, its
-- base and seasonal naive, on the same out-of-sample node-days), dimension (horizon, weekday,
-- holiday, promotion) and bucket, the sums any ratio is formed from: WAPE = abs_error /
-- actual_units, bias % = bias / actual_units, MASE = scaled_error / n_obs.
create table if not exists forecast.backtest_error_patterns (
    run_id       bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    level        text    not null,
    model        text    not null,
    dimension    text    not null check (dimension in ('horizon', 'weekday', 'holiday',
                                                       'promotion')),
    bucket       text    not null,
    bucket_order integer not null,
    n_obs        bigint  not null,
    n_nodes      integer not null,
    actual_units double precision not null,
    abs_error    double precision not null,
    bias         double precision not null,
    scaled_error double precision not null,
    primary key (run_id, level, model, dimension, bucket)
);

-- What applying planners' overrides later needs of a run (ml/reconcile/immutable.py): per node,
-- MinT's weight from the run's backtest residuals, W = diag(variance) + F F' (F: each node's row
-- of a low-rank factor, float32 bytes), and its in-sample seasonal-naive MAE (scales the value
-- overrides add).
create table if not exists forecast.adjustment_weights (
    run_id    bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    level     text   not null,
    node_key  text   not null,
    variance  double precision not null,
    factor    bytea,
    mae_scale double precision,
    primary key (run_id, level, node_key)
);

-- Each application of the overrides in force to a run's statistical forecast (by its pipeline
-- run, or by `frycast override apply` on the published run): what it held and rejected.
create table if not exists forecast.override_applications (
    application_id bigint generated always as identity primary key,
    run_id         bigint not null references forecast.forecast_runs (run_id) on delete cascade,
    applied_at     timestamptz not null default now(),
    as_of          date    not null,   -- the day expiry was judged on
    overrides      integer not null,
    applied        integer not null,
    rejected       integer not null,
    node_days      integer not null,   -- adjusted node-days written
    seconds        double precision
);
create table if not exists forecast.override_outcomes (
    application_id bigint  not null
        references forecast.override_applications (application_id) on delete cascade,
    override_id    bigint  not null,
    applied        boolean not null,
    days           integer not null,   -- days it held
    message        text    not null,
    primary key (application_id, override_id)
);

-- The adjusted forecast where the run's latest application moved it (the statistical forecast
-- stays in forecast_values): every node on the days an override covers, coherent, non-negative.
create table if not exists forecast.adjusted_values (
    run_id         bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    application_id bigint  not null,
    level          text    not null,
    node_key       text    not null,
    forecast_date  date    not null,
    yhat           double precision not null,
    yhat_q50       double precision,
    yhat_lo80      double precision,
    yhat_hi80      double precision,
    is_pinned      boolean not null,   -- an override holds this node-day
    primary key (run_id, level, node_key, forecast_date)
);

grant select on all tables in schema forecast to frycast_reader;
