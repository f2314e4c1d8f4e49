{#- Incremental sales models (staging, restaurant days, fct_daily_sales) take in only what newer
    loaded batches brought. One high-water mark bounds a whole dbt invocation: the newest loaded
    batch when it started (var `through_batch_id`, set by warehouse.dbt.run_dbt). Staging reads no
    batch past it and every model records it (`built_through_batch_id`), so a batch committed
    while a build is under way is taken in whole by the next build, never skipped by the models
    built after it. Without the var (dbt run by hand) each statement reads the newest batch. -#}

{% macro latest_loaded_batch() -%}
    {%- set batches = ref('stg_raw__load_batches') -%}
    {%- if var('through_batch_id', none) is not none -%}
        {{ var('through_batch_id') | int }}::bigint
    {%- else -%}
        (select coalesce(max(batch_id), 0) from {{ batches }} where status = 'loaded')
    {%- endif -%}
{%- endmacro %}

{#- The batch a table was built through, as a literal read when the model or test runs (0 before
    the first build): the planner sees the number, so "rows of newer batches" uses an index. -#}
{% macro built_through(relation) -%}
    {%- if execute and relation is not none -%}
        {%- set answer = run_query(
            "select coalesce(max(built_through_batch_id), 0) from " ~ relation) -%}
        {{- answer.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- dbt's own rule (a --full-refresh flag, or the model's full_refresh config), plus ours: an
    incremental model rebuilds in full when an increment could not be trusted (see
    frycast_needs_full_rebuild). Both dbt's materialization and is_incremental() ask this. -#}
{% macro should_full_refresh() %}
    {% set configured = config.get('full_refresh') %}
    {% if configured is none %}
        {% set configured = flags.FULL_REFRESH or frycast_needs_full_rebuild() %}
    {% endif %}
    {% do return(configured) %}
{% endmacro %}

{#- True when an incremental model's `rebuild_when` checks say the table cannot be patched:
    - replaced_batches: loaded batches were replaced (a reseed) since the table was built, so
      rows it holds may no longer exist upstream;
    - dimensions: restaurants or SKUs changed since (opening, launch dates and list prices shape
      every day of a series);
    - shrunk_ranges: a series' spine now starts later or ends earlier than the rows it holds.
    Each check is an indexed lookup, not a scan. -#}
{% macro frycast_needs_full_rebuild() %}
    {% set checks = config.get('rebuild_when') or [] %}
    {% if not execute or not checks or config.get('materialized') != 'incremental' %}
        {% do return(false) %}
    {% endif %}
    {% set existing = adapter.get_relation(this.database, this.schema, this.identifier) %}
    {% if existing is none %}
        {% do return(false) %}
    {% endif %}
    {% set conditions = [] %}
    {% if 'replaced_batches' in checks %}
        {% do conditions.append(
            "exists (select 1 from " ~ source('raw', 'load_batches') ~ " where status = 'replaced'"
            ~ " and replaced_by > " ~ built_through(existing) ~ ")") %}
    {% endif %}
    {% if 'dimensions' in checks %}
        {% do conditions.append(
            "exists (select 1 from " ~ source('raw', 'restaurants') ~ " where batch_id > "
            ~ built_through(existing) ~ ") or exists (select 1 from " ~ source('raw', 'skus')
            ~ " where batch_id > " ~ built_through(existing) ~ ")") %}
    {% endif %}
    {% if 'shrunk_ranges' in checks %}
        {% do conditions.append(
            "exists (select 1 from " ~ ref('int_series_active_ranges') ~ " as ranges where exists ("
            ~ "select 1 from " ~ existing ~ " as built where built.restaurant_id = ranges.restaurant_id"
            ~ " and built.sku_id = ranges.sku_id and built.sale_date in"
            ~ " (ranges.active_from - 1, ranges.active_to + 1)))") %}
    {% endif %}
    {% set answer = run_query("select " ~ conditions | join(" or ")) %}
    {% set full = answer.columns[0].values()[0] %}
    {% if full %}
        {% do log(this ~ ": an increment cannot be trusted (" ~ checks | join(", ")
                  ~ "): rebuilding in full", info=true) %}
    {% endif %}
    {% do return(full) %}
{% endmacro %}

{#- Tests on the big tables check what is new, not every row again (the rows kept from earlier
    builds were tested when they were written). A test's `where` may say
    - `__latest_build__`: the rows the latest build of an incremental model wrote (every row after
      a full build);
    - `__unstaged_batches__`: raw rows of batches staging has not taken in yet (source tests run
      before staging is built). -#}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% if '__latest_build__' in where %}
            {% set where = where | replace(
                '__latest_build__', 'built_through_batch_id = ' ~ built_through(relation)) %}
        {% endif %}
        {% if '__unstaged_batches__' in where %}
            {% set staged = adapter.get_relation(target.database, 'staging', 'stg_raw__daily_sales') %}
            {% set where = where | replace(
                '__unstaged_batches__',
                'batch_id > ' ~ built_through(staged) if staged is not none else 'true') %}
        {% endif %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}

{#- `analyze` a model's table right after it is built; views have nothing to analyze. -#}
{% macro analyze_table() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Literals for tests: the first batch the latest build of ``relation`` took in, and the oldest
    loaded batch (0 before anything is built or loaded). -#}
{% macro first_batch_taken_in(relation) -%}
    {%- if execute -%}
        {%- set answer = run_query(
            "select coalesce(min(batch_id), 0) from " ~ relation
            ~ " where built_through_batch_id = " ~ built_through(relation)) -%}
        {{- answer.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{% macro oldest_loaded_batch() -%}
    {%- if execute -%}
        {%- set answer = run_query(
            "select coalesce(min(batch_id), 0) from " ~ source('raw', 'load_batches')
            ~ " where status = 'loaded'") -%}
        {{- answer.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- The newest succeeded forecast run (the one a pipeline has just written), as a literal; 0 when
    there is none. -#}
{% macro latest_succeeded_run() -%}
    {%- if execute -%}
        {%- set answer = run_query(
            "select coalesce(max(run_id), 0) from " ~ source('forecast', 'forecast_runs')
            ~ " where status = 'succeeded'") -%}
        {{- answer.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}
