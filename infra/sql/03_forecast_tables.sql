-- Tables the forecasting flow writes (COPY). dbt builds the forecast marts from them.

create table if not exists forecast.forecast_runs (
    run_id        bigint generated always as identity primary key,
    status        text        not null default 'running'
                  check (status in ('running', 'succeeded', 'failed')),
    created_at    timestamptz not null default now(),
    finished_at   timestamptz,
    horizon_days  integer     not null,
    history_end   date,                   -- the forecast origin: the last day of history used
    config        jsonb       not null default '{}'::jsonb,
    mlflow_run_id text,
    published     boolean     not null default false,
    message       text
);

-- One row per node of the hierarchy and day. Issue 3 writes the bottom level (restaurant × SKU);
-- reconciliation adds the aggregate levels.
create table if not exists forecast.forecast_values (
    run_id        bigint  not null references forecast.forecast_runs (run_id) on delete cascade,
    level         text    not null,       -- 'restaurant_sku', 'restaurant', 'region', 'chain', ...
    node_key      text    not null,       -- e.g. 'R0001/S0007' at the bottom, 'chain' at the top
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
    primary key (run_id, level, node_key, reconciled, forecast_date)
);

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

grant select on all tables in schema forecast to frycast_reader;
