{#- The served forecast's columns: the adjusted forecast where planners' overrides moved it
    (``adjusted``: forecast.adjusted_values), else the statistical one (``statistical``), with
    the statistical forecast beside it and where it was adjusted or held. One definition for
    fct_forecast and fct_forecast_by_run. -#}
{% macro served_forecast_columns(statistical, adjusted) -%}
    coalesce({{ adjusted }}.yhat, {{ statistical }}.yhat) as yhat,
    coalesce({{ adjusted }}.yhat_q50, {{ statistical }}.yhat_q50) as yhat_q50,
    coalesce({{ adjusted }}.yhat_lo80, {{ statistical }}.yhat_lo80) as yhat_lo80,
    coalesce({{ adjusted }}.yhat_hi80, {{ statistical }}.yhat_hi80) as yhat_hi80,
    {{ statistical }}.yhat as yhat_statistical,
    {{ adjusted }}.yhat is not null as is_adjusted,
    coalesce({{ adjusted }}.is_pinned, false) as is_overridden
{%- endmacro %}
