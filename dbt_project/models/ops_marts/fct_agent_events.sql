-- One row per step an agent took in a review (request, response, tool call and result, error,
-- verdict), in order.
-- A view: the agents append events while a run is in progress and the dashboard's Agents page
-- polls them every 5 s then; a table would be stale until the next dbt build.
select
    event_id,
    review_id,
    run_id,
    agent,
    seq,
    kind,
    payload,
    at
from {{ source('forecast', 'agent_events') }}
