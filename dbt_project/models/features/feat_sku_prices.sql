{{ config(
    indexes=[{'columns': ['sku_id', 'price_date'], 'unique': true}],
) }}

-- The list price of every SKU on every calendar day, forecast days included: price lists are
-- published ahead, so the global models read the price of the day they forecast (a planned rise
-- moves the forecast). Before an item's first price row its first price holds; an item without a
-- price list keeps its dim_sku list price throughout.
with

dates as (
    select date_day from {{ ref('dim_date') }}
),

skus as (
    select
        sku_id,
        list_price
    from {{ ref('dim_sku') }}
),

changes as (
    select
        sku_id,
        effective_on,
        price,
        lead(effective_on) over (partition by sku_id order by effective_on) as next_effective_on,
        row_number() over (partition by sku_id order by effective_on) = 1 as is_first
    from {{ ref('stg_raw__price_changes') }}
),

final as (
    select
        skus.sku_id,
        dates.date_day as price_date,
        coalesce(changes.price, skus.list_price) as list_price,
        changes.sku_id is not null as is_from_price_list
    from skus
    cross join dates
    left join changes
        on
            skus.sku_id = changes.sku_id
            and (dates.date_day >= changes.effective_on or changes.is_first)
            and (changes.next_effective_on is null or dates.date_day < changes.next_effective_on)
)

select * from final
