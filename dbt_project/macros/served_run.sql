{#- The run the forecast marts serve: the latest published one, or the run chosen with
    --vars '{forecast_run_id: N}'. One definition for every mart that shows a run's forecast. -#}
{% macro served_run_id() -%}
    coalesce(
        {{ var('forecast_run_id', 'null') }}::bigint,
        (select max(run_id) from {{ source('forecast', 'forecast_runs') }} where published)
    )
{%- endmacro %}
