-- Roles and schemas of the frycast warehouse. Idempotent: applied by `frycast warehouse init`
-- (and on every `warehouse up`), and by the Postgres container's init step in docker-compose,
-- with a login that may create roles (the superuser of a fresh server).
--
-- Least privilege is enforced by the logins themselves, never by a `set role` in a privileged
-- session (one `reset role` undoes that):
-- frycast_owner  : the pipeline (loaders, dbt, flows, MLflow) logs in as this role and owns every
--                  warehouse object. Not a superuser; cannot create roles or databases.
-- frycast_reader : dashboard, agents' SQL tool, docs, analysts. SELECT on marts, forecast and two
--                  raw bookkeeping tables only; no CREATE or TEMP anywhere, no mlflow; every session
--                  starts read-only with a statement timeout.

do $$
begin
    if not exists (select from pg_roles where rolname = 'frycast_owner') then
        create role frycast_owner login;
    end if;
    if not exists (select from pg_roles where rolname = 'frycast_reader') then
        create role frycast_reader login;
    end if;
end
$$;
alter role frycast_owner nosuperuser nocreaterole nocreatedb nobypassrls noreplication login;
alter role frycast_reader nosuperuser nocreaterole nocreatedb nobypassrls noreplication noinherit
    login connection limit 50;
alter role frycast_reader set default_transaction_read_only = on;
alter role frycast_reader set statement_timeout = '30s';
alter role frycast_reader set idle_in_transaction_session_timeout = '60s';
-- the old read-only path (the owner switching to the reader with `set role`) is gone
revoke frycast_reader from frycast_owner;

-- this database: the owner may create schemas and temp tables (dbt); the reader may only connect
do $$
begin
    execute format('grant connect, create, temporary on database %I to frycast_owner',
                   current_database());
    execute format('grant connect on database %I to frycast_reader', current_database());
    execute format('revoke temporary, create on database %I from public', current_database());
end
$$;
revoke create on schema public from public;

create schema if not exists raw;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists features;
create schema if not exists marts;
create schema if not exists forecast;
create schema if not exists mlflow;      -- MLflow tracking store (its own tables, created by MLflow)
alter schema raw owner to frycast_owner;
alter schema staging owner to frycast_owner;
alter schema intermediate owner to frycast_owner;
alter schema features owner to frycast_owner;
alter schema marts owner to frycast_owner;
alter schema forecast owner to frycast_owner;
alter schema mlflow owner to frycast_owner;

grant usage on schema marts, forecast to frycast_reader;
revoke all on schema mlflow, staging, intermediate, features from frycast_reader;
grant select on all tables in schema marts, forecast to frycast_reader;
-- Tables created later by the owner role (forecast.*) are readable too; dbt grants marts itself.
alter default privileges for role frycast_owner in schema marts, forecast
    grant select on tables to frycast_reader;
