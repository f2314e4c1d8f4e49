-- Roles and schemas of the frycast warehouse. Idempotent: applied by `frycast warehouse init`
-- (and on every `warehouse up`), and by the Postgres container's init step in docker-compose.
--
-- frycast_owner  : the pipeline (loaders, dbt, flows) writes as this role.
-- frycast_reader : read-only consumers (dashboard, agents, analysts): SELECT on marts and forecast.

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

create schema if not exists raw;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists features;
create schema if not exists marts;
create schema if not exists forecast;
create schema if not exists mlflow;      -- MLflow tracking store (its own tables, created by MLflow)

grant usage, create on schema raw, staging, intermediate, features, marts, forecast to frycast_owner;
-- the agents' SQL tool switches to the read-only role (set role frycast_reader) before querying
grant frycast_reader to frycast_owner;
grant usage on schema marts, forecast to frycast_reader;
grant select on all tables in schema marts, forecast to frycast_reader;
-- Tables created later by the owner role (forecast.*) are readable too; dbt grants marts itself.
alter default privileges for role frycast_owner in schema marts, forecast
    grant select on tables to frycast_reader;
