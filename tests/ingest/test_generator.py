"""Properties of the synthetic chain: sizes, determinism, and the patterns it promises."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ingest.generator import REGIONS, TIERS, ChainSpec, build_chain, generate_sales


@pytest.fixture(scope="module")
def small_chain():
    spec = ChainSpec(restaurants=8, skus=30, days=730, start=date(2023, 1, 1), seed=7)
    chain = build_chain(spec)
    sales = pd.concat(generate_sales(chain), ignore_index=True)
    sales["sale_date"] = pd.to_datetime(sales["sale_date"])
    return chain, sales


def test_tiers_have_the_documented_sizes():
    assert TIERS == {"demo": (10, 20, 1095), "medium": (100, 100, 730), "chain": (200, 100, 1826)}
    for tier, (r, s, d) in TIERS.items():
        spec = ChainSpec.for_tier(tier)
        assert (spec.restaurants, spec.skus, spec.days) == (r, s, d)
        assert spec.end == date(2025, 12, 31)
        assert spec.end - spec.start == timedelta(days=d - 1)


def test_demo_tier_master_data_and_row_volume():
    spec = ChainSpec.for_tier("demo")
    chain = build_chain(spec)
    assert len(chain.restaurants) == 10 and chain.restaurants["restaurant_id"].is_unique
    assert len(chain.skus) == 20 and chain.skus["sku_id"].is_unique
    rows = sum(len(f) for f in generate_sales(chain))
    # Days with zero units, closures and launch windows leave out part of the full grid.
    assert 0.5 * 10 * 20 * 1095 < rows < 10 * 20 * 1095


def test_same_seed_same_data_and_other_seed_other_data():
    spec = ChainSpec(restaurants=3, skus=10, days=120, start=date(2024, 1, 1), seed=1)
    a = pd.concat(generate_sales(build_chain(spec)), ignore_index=True)
    b = pd.concat(generate_sales(build_chain(spec)), ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    other = ChainSpec(restaurants=3, skus=10, days=120, start=date(2024, 1, 1), seed=2)
    c = pd.concat(generate_sales(build_chain(other)), ignore_index=True)
    assert not (len(a) == len(c) and (a["units"].to_numpy() == c["units"].to_numpy()).all())


def test_weekly_seasonality_follows_the_restaurant_format(small_chain):
    chain, sales = small_chain
    fmt = sales.merge(chain.restaurants[["restaurant_id", "format"]], on="restaurant_id")
    by_dow = fmt.groupby([fmt["format"], fmt["sale_date"].dt.dayofweek])["units"].sum()
    for f in fmt["format"].unique():
        d = by_dow[f]
        if f == "transit":  # commuters: weekdays beat weekends
            assert d[[0, 1, 2, 3]].mean() > 1.2 * d[[5, 6]].mean()
        else:  # everyone else: Saturday beats Tuesday
            assert d[5] > 1.15 * d[1]


def test_yearly_seasonality_drinks_peak_in_summer(small_chain):
    chain, sales = small_chain
    grp = sales.merge(chain.skus[["sku_id", "product_group"]], on="sku_id")
    drinks = grp[grp["product_group"] == "Drinks"]
    month = drinks.groupby(drinks["sale_date"].dt.month)["units"].sum()
    assert month[[6, 7, 8]].mean() > 1.25 * month[[12, 1, 2]].mean()


def test_promotions_lift_units(small_chain):
    _, sales = small_chain
    lift = sales.groupby(["sku_id", "on_promo"])["units"].mean().unstack().dropna()
    assert len(lift) >= 3
    assert (lift[True] / lift[False]).median() > 1.15


def test_list_prices_rise_and_raw_skus_carry_the_current_price(small_chain):
    chain, _ = small_chain
    past = chain.price_changes[chain.price_changes["effective_on"] <= chain.spec.end]
    changes = past.groupby("sku_id")["price"].agg(["first", "last"])
    assert (changes["last"] > changes["first"]).all()  # every SKU got at least one rise
    current = chain.skus.set_index("sku_id")["list_price"]
    assert (current == changes["last"].reindex(current.index)).all()


def test_planned_price_rises_lie_ahead_and_do_not_touch_the_sales(small_chain):
    chain, sales = small_chain
    planned = chain.price_changes[chain.price_changes["effective_on"] > chain.spec.end]
    assert 0 < len(planned) < len(chain.skus)
    assert planned["sku_id"].is_unique
    current = chain.skus.set_index("sku_id")["list_price"].reindex(planned["sku_id"])
    rise = planned["price"].to_numpy() / current.to_numpy()
    assert ((rise > 1.03) & (rise < 1.11)).all()
    # sold at the price in effect on the day: the planned price never appears in the history
    last_day = sales[sales["sale_date"] == sales["sale_date"].max()]
    regular = last_day[~last_day["on_promo"]].groupby("sku_id")["unit_price"].first()
    shared = regular.index.intersection(current.index)
    assert len(shared) > 0
    np.testing.assert_allclose(regular[shared], current[shared], atol=0.01)


def test_real_holiday_calendar_per_region(small_chain):
    chain, _ = small_chain
    h = chain.holidays
    xmas = h[(h["holiday_date"] == date(2023, 12, 25))]
    assert set(xmas["region"]) == set(REGIONS)  # every region's calendar has Christmas
    assert "Christmas Day" in set(xmas["name"])
    st_andrew = h[h["name"].str.contains("Andrew")]
    assert set(st_andrew["region"]) == {"Scotland"}
    st_patrick = h[h["name"].str.contains("Patrick")]
    assert set(st_patrick["region"]) == {"Northern Ireland"}


def test_closures_mean_no_sales(small_chain):
    chain, sales = small_chain
    assert not (sales["sale_date"] == pd.Timestamp("2023-12-25")).any()
    refits = chain.closures[chain.closures["reason"] == "refit"]
    for c in refits.itertuples():
        inside = sales[
            (sales["restaurant_id"] == c.restaurant_id)
            & (sales["sale_date"] >= pd.Timestamp(c.closed_from))
            & (sales["sale_date"] <= pd.Timestamp(c.closed_to))
        ]
        assert inside.empty


def test_intermittent_low_volume_items_exist(small_chain):
    _, sales = small_chain
    days = sales.groupby(["restaurant_id", "sku_id"])["sale_date"].nunique()
    share_selling = days / 730
    assert (share_selling < 0.5).any()  # some items sell on fewer than half the days
    assert (share_selling > 0.95).any()  # and staples sell nearly every day


def test_noise_is_over_dispersed(small_chain):
    _, sales = small_chain
    # Within one series and weekday the variance exceeds the mean (Poisson would make them equal).
    s = sales[sales["units"] > 5]
    g = s.groupby(["restaurant_id", "sku_id", s["sale_date"].dt.dayofweek])["units"]
    ratio = (g.var() / g.mean()).dropna()
    assert np.median(ratio) > 1.5


def test_net_sales_is_units_times_price(small_chain):
    _, sales = small_chain
    assert np.allclose(sales["net_sales"], (sales["units"] * sales["unit_price"]).round(2))
    assert (sales["units"] > 0).all()
