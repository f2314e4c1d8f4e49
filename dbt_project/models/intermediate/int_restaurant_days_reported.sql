-- The days a restaurant reported anything: its data runs from the first to the last of these,
-- and a day inside that run without any report was closed (or lost), not a day of zero sales.
select
    restaurant_id,
    sale_date
from {{ ref('stg_raw__daily_sales') }}
group by restaurant_id, sale_date
