-- One row per input line (or cell) a loader rejected, with the reason.
-- A view: the loaders write rejected lines as they import, and the dashboard shows them at once,
-- not after the next dbt build.
select
    batch_id,
    line_no,
    column_name,
    reason,
    payload
from {{ ref('stg_raw__rejected_rows') }}
