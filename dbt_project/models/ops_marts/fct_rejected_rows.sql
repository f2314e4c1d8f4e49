-- One row per input line (or cell) a loader rejected, with the reason.
-- A view: the loaders write rejected lines as they import, and the dashboard shows them at once,
-- not after the next dbt build. It reads the source, not `stg_raw__rejected_rows`: each build
-- swaps that view and drops what depends on it, and a build whose staging tests fail skips its
-- dependents, so the Data quality page would lose its rejected lines exactly when the data is bad.
select
    batch_id,
    line_no,
    "column" as column_name,
    reason,
    payload
from {{ source('raw', 'rejected_rows') }}
