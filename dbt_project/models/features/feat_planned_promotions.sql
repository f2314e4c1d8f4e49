{{ config(
    indexes=[{'columns': ['restaurant_id', 'sku_id', 'promo_date'], 'unique': true}],
) }}

-- Promotions are planned ahead, so this covers forecast days too: a known-in-advance feature.
select
    restaurant_id,
    sku_id,
    promo_date,
    discount_pct
from {{ ref('int_promotion_days') }}
