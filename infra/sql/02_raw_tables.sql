-- Landing tables. Loaders validate every row in Python and COPY the good ones here; rejected rows
-- are kept in raw.rejected_rows with the reason. Nothing downstream reads raw.* except dbt sources.

create table if not exists raw.load_batches (
    batch_id      bigint generated always as identity primary key,
    source        text        not null,   -- 'synthetic', 'daily_csv', 'orders_csv'
    file_name     text,
    file_sha256   text,                   -- content hash: importing the same file twice adds nothing
    params        jsonb       not null default '{}'::jsonb,
    status        text        not null default 'running',  -- running, loaded, failed, replaced
    rows_read     bigint      not null default 0,
    rows_loaded   bigint      not null default 0,
    rows_rejected bigint      not null default 0,
    message       text,
    started_at    timestamptz not null default now(),
    finished_at   timestamptz
);
-- A reseed replaces the synthetic batches (their rows are deleted, the batch rows kept): the
-- incremental dbt models see the replacement and rebuild in full.
alter table raw.load_batches add column if not exists replaced_by bigint;
do $$
begin
    if not exists (
        select 1 from pg_constraint
        where conname = 'load_batches_status_check' and pg_get_constraintdef(oid) like '%replaced%'
    ) then
        alter table raw.load_batches drop constraint if exists load_batches_status_check;
        alter table raw.load_batches add constraint load_batches_status_check
            check (status in ('running', 'loaded', 'failed', 'replaced'));
    end if;
end
$$;
create unique index if not exists load_batches_file_once
    on raw.load_batches (source, file_sha256, params) where status = 'loaded' and file_sha256 is not null;

create table if not exists raw.rejected_rows (
    batch_id bigint  not null references raw.load_batches (batch_id) on delete cascade,
    line_no  bigint  not null,            -- physical line in the file (header is line 1)
    "column" text,                        -- null when the whole line is bad
    reason   text    not null,
    payload  text                         -- the raw line as read
);
create index if not exists rejected_rows_batch on raw.rejected_rows (batch_id);

create table if not exists raw.restaurants (
    restaurant_id text primary key,
    name          text not null,
    region        text not null,
    city          text,
    format        text,                   -- 'drive-thru', 'high-street', 'mall', 'transit', 'takeaway'
    opened_on     date not null,
    closed_on     date,
    batch_id      bigint references raw.load_batches (batch_id) on delete cascade
);

create table if not exists raw.skus (
    sku_id          text primary key,
    name            text not null,
    product_group   text not null,
    list_price      numeric(10, 2),
    launched_on     date,
    discontinued_on date,
    batch_id        bigint references raw.load_batches (batch_id) on delete cascade
);

-- No primary key on purpose: a corrected file for the same days lands as a new batch, and
-- staging keeps the latest batch per (restaurant, SKU, day). Loaders reject duplicates within a file.
create table if not exists raw.daily_sales (
    restaurant_id text          not null,
    sku_id        text          not null,
    sale_date     date          not null,
    units         integer       not null,
    net_sales     numeric(12, 2),
    unit_price    numeric(10, 2),
    on_promo      boolean       not null default false,
    batch_id      bigint        not null
);
create index if not exists daily_sales_batch on raw.daily_sales (batch_id);

-- Order-line exports land line by line, each with its identity in the export: the restaurant, the
-- day, the order number and the k-th line of that item in the order. Two exports that share days
-- then add up without counting a line twice: staging keeps one row per identity (the latest
-- loaded batch's) and sums them to restaurant x SKU x day.
create table if not exists raw.order_lines (
    restaurant_id text          not null,
    sale_date     date          not null,
    order_number  text          not null,
    sku_id        text          not null,
    occurrence    integer       not null,  -- 1 for the item's first line in the order, 2 ...
    units         integer       not null,
    unit_price    numeric(10, 2),          -- null: the line had no usable price
    line_no       bigint        not null,  -- physical line in the file (the header is line 1)
    batch_id      bigint        not null references raw.load_batches (batch_id) on delete cascade
);
create index if not exists order_lines_batch on raw.order_lines (batch_id);
create index if not exists order_lines_identity
    on raw.order_lines (restaurant_id, sale_date, order_number, sku_id, occurrence);

create table if not exists raw.holidays (
    holiday_date date not null,
    name         text not null,
    region       text not null,           -- a chain region; every region has its own calendar rows
    primary key (holiday_date, region, name)
);
-- 'generated:GB-ENG' (from the region's country, regenerated when that changes) or 'user'
-- (imported with frycast import calendar: never replaced by a generated row)
alter table raw.holidays add column if not exists source text not null default 'generated';

-- Local events a planner adds (a festival, a match day, school holidays): by region or by one
-- restaurant, with the effect expected (a multiplier, optional) and when it became known.
create table if not exists raw.calendar_events (
    event_date      date not null,
    name            text not null,
    region          text,
    restaurant_id   text,
    expected_effect numeric(6, 3),        -- e.g. 1.30: 30 % more than a usual day
    known_since     date,                 -- null: known for ever (a backtest may use it)
    batch_id        bigint references raw.load_batches (batch_id) on delete cascade,
    check ((region is null) <> (restaurant_id is null))
);
create unique index if not exists calendar_events_key
    on raw.calendar_events (event_date, name, coalesce(region, ''), coalesce(restaurant_id, ''));

-- Where each region is: its country and subdivision in the `holidays` package's codes, which
-- choose its public-holiday calendar. A region without a row takes the UK's (the synthetic chain's).
create table if not exists raw.regions (
    region      text primary key,
    country     text not null,            -- ISO 3166-1 alpha-2, e.g. GB, JP, US
    subdivision text,                     -- e.g. ENG, SCT; 13 (Tokyo); CA
    batch_id    bigint references raw.load_batches (batch_id) on delete set null
);

-- Temporary restaurant closures (refits, incidents): days in these ranges are closed, not zero.
create table if not exists raw.restaurant_closures (
    restaurant_id text not null,
    closed_from   date not null,
    closed_to     date not null,
    reason        text not null,
    batch_id      bigint references raw.load_batches (batch_id) on delete cascade,
    primary key (restaurant_id, closed_from)
);

-- Planned promotions: known ahead of time, so they are usable as forecast-time features.
create table if not exists raw.promotions (
    promo_id      text primary key,
    restaurant_id text,                   -- null: chain-wide
    sku_id        text not null,
    starts_on     date not null,
    ends_on       date not null,
    discount_pct  numeric(5, 2) not null,
    batch_id      bigint references raw.load_batches (batch_id) on delete cascade
);

-- The chain's list price per SKU from a day on: its history and the changes already planned (a
-- price list is published ahead, so future rows are forecast-time features like promotions).
create table if not exists raw.price_changes (
    sku_id        text not null,
    effective_on  date not null,
    price         numeric(10, 2) not null,
    batch_id      bigint references raw.load_batches (batch_id) on delete cascade,
    primary key (sku_id, effective_on)
);

-- The agents' SQL tool reads rejected lines and load batches (read-only role); the dashboard
-- reads them through marts.fct_rejected_rows.
grant usage on schema raw to frycast_reader;
grant select on raw.rejected_rows, raw.load_batches to frycast_reader;
