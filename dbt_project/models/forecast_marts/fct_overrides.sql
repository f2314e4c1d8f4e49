-- Planners' overrides: every override and every change of one (the audit trail, append-only),
-- where each stands today, and what the served run's latest application of them did: held on
-- how many days, or why not (a conflict names the other override).
with

overrides as (
    select * from {{ source('planning', 'overrides') }}
),

successors as (
    select
        supersedes as override_id,
        override_id as superseded_by,
        status as successor_status
    from overrides
    where supersedes is not null
),

served_run as (
    select max(run_id) as run_id
    from {{ source('forecast', 'forecast_runs') }}
    where published
),

latest_application as (
    select
        a.application_id,
        a.run_id,
        a.applied_at
    from {{ source('forecast', 'override_applications') }} as a
    inner join served_run as s on a.run_id = s.run_id
    order by a.application_id desc
    limit 1
),

outcomes as (
    select
        o.override_id,
        o.applied,
        o.days,
        o.message,
        la.run_id,
        la.applied_at
    from {{ source('forecast', 'override_outcomes') }} as o
    inner join latest_application as la on o.application_id = la.application_id
)

select
    -- identifiers
    o.override_id,
    o.supersedes,
    s.superseded_by,
    -- the override
    o.level,
    o.node_key,
    o.date_from,
    o.date_to,
    o.kind,
    o.value,
    o.reason,
    o.author,
    o.login,
    o.created_at,
    o.expires_on,
    o.status,
    -- where it stands today
    (o.date_to - o.date_from + 1) as days_in_range,
    case
        when o.status = 'retired' then 'retirement'
        when s.successor_status = 'retired' then 'retired'
        when s.superseded_by is not null then 'changed'
        when o.expires_on < current_date then 'expired'
        else 'in force'
    end as state,
    coalesce(
        s.superseded_by is null
        and o.status = 'active'
        and (o.expires_on is null or o.expires_on >= current_date),
        false
    ) as is_in_force,
    -- the served run's latest application
    oc.run_id as served_run_id,
    oc.applied_at,
    oc.applied as held_in_served_run,
    oc.days as days_held,
    oc.message as outcome
from overrides as o
left join successors as s on o.override_id = s.override_id
left join outcomes as oc on o.override_id = oc.override_id
