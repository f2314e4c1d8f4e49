-- One row per review of a run by one of the reviewers (the data-quality and metric gates, the
-- feature advisor, a drift triage): its verdict, findings and recommended actions.
-- A view: reviews are appended while a run is in progress, and the dashboard's Agents page polls
-- them then; a table would show them only after the next dbt build.
select
    review_id,
    run_id,
    check_id,
    agent,
    verdict,
    rules_verdict,
    agent_verdict,
    severity,
    offline,
    model,
    summary,
    findings,
    recommended_actions,
    created_at
from {{ source('forecast', 'agent_reviews') }}
