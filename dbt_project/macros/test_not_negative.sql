{#- Quantities that cannot go below zero (units, prices). Nulls are for not_null to judge. -#}
{% test not_negative(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0
{% endtest %}
