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
-- Role attributes are cluster-wide: change them only when they differ, so that applying this file
-- to two databases of one server at once does not race on the same catalog rows.
do $$
begin
    if exists (select from pg_roles where rolname = 'frycast_owner'
                 and (rolsuper or rolcreaterole or rolcreatedb or rolbypassrls or rolreplication
                      or not rolcanlogin)) then
        alter role frycast_owner nosuperuser nocreaterole nocreatedb nobypassrls noreplication
            login;
    end if;
    if exists (select from pg_roles where rolname = 'frycast_reader'
                 and (rolsuper or rolcreaterole or rolcreatedb or rolbypassrls or rolreplication
                      or rolinherit or not rolcanlogin or rolconnlimit <> 50)) then
        alter role frycast_reader nosuperuser nocreaterole nocreatedb nobypassrls noreplication
            noinherit login connection limit 50;
    end if;
    if not exists (select from pg_db_role_setting s
                    where s.setrole = 'frycast_reader'::regrole and s.setdatabase = 0
                      and s.setconfig @> array['default_transaction_read_only=on',
                                               'statement_timeout=30s',
                                               'idle_in_transaction_session_timeout=60s']) then
        alter role frycast_reader set default_transaction_read_only = on;
        alter role frycast_reader set statement_timeout = '30s';
        alter role frycast_reader set idle_in_transaction_session_timeout = '60s';
    end if;
    -- the old read-only path (the owner switching to the reader with `set role`) is gone
    if exists (select from pg_auth_members where roleid = 'frycast_reader'::regrole
                                             and member = 'frycast_owner'::regrole) then
        revoke frycast_reader from frycast_owner;
    end if;
end
$$;

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

-- Functions any login may call by default that write or block without a table privilege: large
-- objects (a reader that turns its session read-write could create them) and advisory locks (a
-- reader could hold the pipeline's lock). Only the owner keeps the locks. Function privileges
-- need the functions' owner, so this runs when a superuser applies the file.
do $$
declare
    f regprocedure;
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        return;
    end if;
    for f in
        select p.oid::regprocedure from pg_proc p
         where p.pronamespace = 'pg_catalog'::regnamespace
           and (p.proname in ('lo_create', 'lo_creat', 'lo_from_bytea', 'lo_import', 'lo_put',
                              'lowrite', 'lo_truncate', 'lo_truncate64', 'lo_unlink')
                or (p.proname like 'pg%advisory%lock%' and p.proname not like '%unlock%'))
    loop
        execute format('revoke execute on function %s from public', f);
        if f::text like 'pg%advisory%' then
            execute format('grant execute on function %s to frycast_owner', f);
        end if;
    end loop;
end
$$;

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
