{#- A probability: between 0 and 1. Nulls are for not_null to judge. -#}
{% test probability(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}
