{#- The forecast hierarchy, from var `hierarchy_levels` (dbt_project.yml): its levels in order,
    the bottom last, each a name and the columns that group the bottom series into its nodes. A
    node's key is its values of those columns joined with '/' (the grand total's: the level's
    name), as ml.reconcile.hierarchy writes it. -#}

{#- The levels ({name, columns}); without the bottom level when bottom is false. -#}
{% macro hierarchy_levels(bottom=true) -%}
    {%- set levels = var('hierarchy_levels') -%}
    {{- return(levels if bottom else levels[:-1]) -}}
{%- endmacro %}

{#- The bottom level's name (restaurant x SKU). -#}
{% macro hierarchy_bottom_level() -%}
    {{- var('hierarchy_levels')[-1]['name'] -}}
{%- endmacro %}

{#- A level's node key, as SQL over the level's columns. -#}
{% macro hierarchy_node_key(level) -%}
    {%- if level['columns'] -%}
        {{- level['columns'] | join(" || '/' || ") -}}
    {%- else -%}
        '{{ level['name'] }}'
    {%- endif -%}
{%- endmacro %}

{#- `measure` summed up to every node of every level (of the aggregate levels only when bottom is
    false), one union branch a level: columns level, node_key, the `by` columns (grouped by too:
    a day, a run) and the sum, named `alias`. `relation` has the bottom rows with every level's
    columns. -#}
{% macro sum_up_hierarchy(relation, measure, alias, by=[], bottom=true) -%}
    {%- for level in hierarchy_levels(bottom) %}
        {%- set group_by = level['columns'] + by %}
        {%- if not loop.first %}
    union all
        {%- endif %}
    select
        '{{ level['name'] }}' as level,
        {{ hierarchy_node_key(level) }} as node_key,
        {%- for column in by %}
        {{ column }},
        {%- endfor %}
        sum({{ measure }}) as {{ alias }}
    from {{ relation }}
        {%- if group_by %}
    group by {{ group_by | join(', ') }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- A level's node name for planners, as SQL over columns named as in marts.dim_node's `series`:
    each id column's name (restaurant_name for restaurant_id, sku_name for sku_id) or the column
    itself (region, product_group), joined with ' · '; the grand total's: 'Whole chain'. -#}
{% macro hierarchy_node_name(level) -%}
    {%- set names = {'restaurant_id': 'restaurant_name', 'sku_id': 'sku_name'} -%}
    {%- if level['columns'] -%}
        {%- set parts = [] -%}
        {%- for column in level['columns'] -%}
            {%- do parts.append(names.get(column, column)) -%}
        {%- endfor -%}
        {{- parts | join(" || ' · ' || ") -}}
    {%- else -%}
        'Whole chain'
    {%- endif -%}
{%- endmacro %}
