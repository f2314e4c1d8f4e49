-- Planners' adjustments (issue 22): overrides of the statistical forecast, append-only, so the
-- table is its own audit trail (who changed what, when and why). A change or a retirement is a
-- new row that supersedes the old one; nothing is updated or deleted.
--
-- frycast_planner: a login that may insert overrides and nothing else (no select, no other
-- table, no other schema). The dashboard's Adjust page and `frycast override add` save through
-- it; every other read goes through the reader login, every write of forecasts through the owner.

do $$
begin
    if not exists (select from pg_roles where rolname = 'frycast_planner') then
        create role frycast_planner login;
    end if;
end
$$;
do $$
begin
    if exists (select from pg_roles where rolname = 'frycast_planner'
                 and (rolsuper or rolcreaterole or rolcreatedb or rolbypassrls or rolreplication
                      or rolinherit or not rolcanlogin or rolconnlimit <> 20)) then
        alter role frycast_planner nosuperuser nocreaterole nocreatedb nobypassrls noreplication
            noinherit login connection limit 20;
    end if;
    if not exists (select from pg_db_role_setting s
                    where s.setrole = 'frycast_planner'::regrole and s.setdatabase = 0
                      and s.setconfig @> array['statement_timeout=10s',
                                               'idle_in_transaction_session_timeout=60s']) then
        alter role frycast_planner set statement_timeout = '10s';
        alter role frycast_planner set idle_in_transaction_session_timeout = '60s';
    end if;
    execute format('grant connect on database %I to frycast_planner', current_database());
end
$$;

create schema if not exists planning;
alter schema planning owner to frycast_owner;

create table if not exists planning.overrides (
    override_id bigint generated always as identity primary key,
    -- the override this row replaces (a change, or its retirement); null for a new one
    supersedes  bigint references planning.overrides (override_id),
    level       text not null,   -- a level of the hierarchy (frycast/levels.py)
    node_key    text not null,   -- 'chain', a region, 'R0001', 'R0001/S0003', ...
    date_from   date not null,
    date_to     date not null,
    -- set_total: the range's total; scale: the statistical forecast times value; set_daily:
    -- value on every day of the range
    kind        text not null check (kind in ('set_total', 'scale', 'set_daily')),
    value       double precision not null check (value >= 0 and value < 'Infinity'),
    reason      text not null check (btrim(reason) <> ''),
    author      text not null check (btrim(author) <> ''),  -- the planner, as they sign
    login       text not null default session_user,         -- the database login (set below)
    created_at  timestamptz not null default now(),
    expires_on  date,            -- not applied by runs after this day
    status      text not null default 'active' check (status in ('active', 'retired')),
    check (date_to >= date_from),
    check (date_to - date_from < 800)
);
create index if not exists overrides_node on planning.overrides (level, node_key);
create unique index if not exists overrides_supersedes on planning.overrides (supersedes);
alter table planning.overrides owner to frycast_owner;

-- The overrides in force: the newest row of each chain of changes, not retired (expiry is the
-- applying run's to judge: it depends on the day it runs).
create or replace view planning.current_overrides as
select o.*
from planning.overrides o
where o.status = 'active'
  and not exists (select from planning.overrides n where n.supersedes = o.override_id);
alter view planning.current_overrides owner to frycast_owner;

-- Every insert: the login and time are the server's, a superseded override must be current, and
-- an active override may not overlap another active one on the same node (both named). Runs as
-- the owner (security definer): the planner can read nothing itself.
create or replace function planning.check_override() returns trigger
language plpgsql security definer set search_path = pg_catalog, planning as $fn$
declare
    clash record;
    old record;
begin
    new.login := session_user;
    new.created_at := now();
    -- one writer per node at a time, so two planners cannot both pass the overlap check
    perform pg_advisory_xact_lock(hashtext('planning.overrides'), hashtext(new.level || '|' || new.node_key));
    if new.supersedes is not null then
        select * into old from planning.overrides where override_id = new.supersedes;
        if not found then
            raise exception 'override % does not exist', new.supersedes
                using errcode = 'foreign_key_violation';
        end if;
        if exists (select from planning.overrides where supersedes = new.supersedes) then
            raise exception 'override % was already changed or retired; change the newest row',
                new.supersedes using errcode = 'unique_violation';
        end if;
        if old.status = 'retired' then
            raise exception 'override % is retired', new.supersedes
                using errcode = 'check_violation';
        end if;
    end if;
    if new.status = 'active' then
        select * into clash from planning.current_overrides c
         where c.level = new.level and c.node_key = new.node_key
           and c.override_id is distinct from new.supersedes
           and daterange(c.date_from, c.date_to, '[]') && daterange(new.date_from, new.date_to, '[]')
           and (c.expires_on is null or c.expires_on >= current_date)
         order by c.override_id limit 1;
        if found then
            raise exception
                'the new override (% % %..%, % %) overlaps override % (% % %..%, % %, by %): retire or change it',
                new.level, new.node_key, new.date_from, new.date_to, new.kind, new.value,
                clash.override_id, clash.level, clash.node_key, clash.date_from, clash.date_to,
                clash.kind, clash.value, clash.author
                using errcode = 'exclusion_violation';
        end if;
    end if;
    return new;
end
$fn$;
alter function planning.check_override() owner to frycast_owner;
drop trigger if exists overrides_checked on planning.overrides;
create trigger overrides_checked before insert on planning.overrides
    for each row execute function planning.check_override();

create or replace function planning.refuse_change() returns trigger
language plpgsql as $fn$
begin
    raise exception 'planning.overrides is append-only: insert a row that supersedes override %',
        old.override_id using errcode = 'insufficient_privilege';
end
$fn$;
alter function planning.refuse_change() owner to frycast_owner;
drop trigger if exists overrides_append_only on planning.overrides;
create trigger overrides_append_only before update or delete on planning.overrides
    for each row execute function planning.refuse_change();

-- The planner: insert the columns a planner sets, nothing else (the login, time and id are the
-- server's). The reader reads the marts built on this table, not the table.
revoke all on schema planning from public;
revoke all on all tables in schema planning from frycast_planner, frycast_reader;
grant usage on schema planning to frycast_planner;
grant insert (supersedes, level, node_key, date_from, date_to, kind, value, reason, author,
              expires_on, status)
    on planning.overrides to frycast_planner;
