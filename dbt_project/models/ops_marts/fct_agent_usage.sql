-- What each review cost: the Messages API requests it sent, the tokens they used (input, output,
-- and the part of the input read from or written to the prompt cache), what that cost in US
-- dollars at the configured prices, its errors and retries and how long it took, from the usage
-- each response reported in `fct_agent_events`. One row per review; a review
-- still running (its steps not yet tied to a review) is one row per run and agent. A view: the
-- Agents page shows it while the run is in progress. An offline review sent nothing: 0 requests.
with

events as (
    select * from {{ ref('fct_agent_events') }}
),

token_use as (
    select
        review_id,
        run_id,
        agent,
        at,
        kind,
        (payload -> 'usage' ->> 'input_tokens')::bigint as input_tokens,
        (payload -> 'usage' ->> 'output_tokens')::bigint as output_tokens,
        (payload -> 'usage' ->> 'cache_read_input_tokens')::bigint as cache_read_tokens,
        (payload -> 'usage' ->> 'cache_creation_input_tokens')::bigint as cache_write_tokens,
        (payload ->> 'cost_usd')::double precision as cost_usd,
        coalesce((payload ->> 'retried')::boolean, false) as retried
    from events
)

select
    review_id,
    run_id,
    agent,
    count(*) filter (where kind = 'request')::bigint as requests,
    count(*) filter (where kind = 'error')::bigint as errors,
    count(*) filter (where kind = 'error' and retried)::bigint as retries,
    coalesce(sum(input_tokens), 0)::bigint as input_tokens,
    coalesce(sum(output_tokens), 0)::bigint as output_tokens,
    coalesce(sum(cache_read_tokens), 0)::bigint as cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0)::bigint as cache_write_tokens,
    -- null when no response had a price (an unknown model): unknown, not free
    sum(cost_usd) as cost_usd,
    count(*) filter (where kind = 'response' and cost_usd is null)::bigint as unpriced_responses,
    min(at) as started_at,
    max(at) as finished_at,
    extract(epoch from max(at) - min(at))::double precision as seconds
from token_use
group by review_id, run_id, agent
