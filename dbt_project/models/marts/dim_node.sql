-- Every node of the forecast hierarchy with a planner's name beside its key: "Camden · Classic
-- Burger" for R003/S012. The dashboard shows and searches these names; analysts join any
-- forecast mart on (level, node_key). The nodes of every restaurant x SKU series that has sold,
-- summed up the levels of var `hierarchy_levels` (macros/hierarchy.sql).
with

series as (
    select
        active.restaurant_id,
        active.sku_id,
        restaurants.region,
        skus.product_group,
        coalesce(restaurants.restaurant_name, active.restaurant_id) as restaurant_name,
        coalesce(skus.sku_name, active.sku_id) as sku_name
    from {{ ref('int_series_active_ranges') }} as active
    inner join {{ ref('dim_restaurant') }} as restaurants
        on active.restaurant_id = restaurants.restaurant_id
    inner join {{ ref('dim_sku') }} as skus
        on active.sku_id = skus.sku_id
),

nodes as (
    {%- for level in hierarchy_levels() %}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select distinct
            '{{ level['name'] }}' as level,
            {{ hierarchy_node_key(level) }} as node_key,
            {{ hierarchy_node_name(level) }} as node_name
        from series
    {%- endfor %}
)

select
    level,
    node_key,
    node_name
from nodes
