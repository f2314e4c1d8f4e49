-- Every warehouse object belongs to the pipeline's login, frycast_owner: a warehouse built before
-- the pipeline stopped running as the superuser (or a table a superuser session created since)
-- is handed over, so the owner can rebuild, alter and analyze all of it. Idempotent and cheap:
-- only objects with another owner are touched. Identity sequences follow their tables.
do $$
declare
    r record;
begin
    for r in
        select n.nspname, c.relname,
               case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                              when 'S' then 'sequence' when 'f' then 'foreign table'
                              else 'table' end as kind
          from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
         where n.nspname in ('raw', 'staging', 'intermediate', 'features', 'marts', 'forecast',
                             'planning',
                             'mlflow')
           and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
           and c.relowner <> 'frycast_owner'::regrole
           and not (c.relkind = 'S' and exists (
                   select from pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid
                      and d.deptype in ('a', 'i')))
    loop
        execute format('alter %s %I.%I owner to frycast_owner', r.kind, r.nspname, r.relname);
    end loop;
end
$$;
