"""dbt build on real data in real Postgres: every model and dbt test, then the numbers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest

from ingest.daily import import_daily
from ingest.generator import ChainSpec
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from quality import checks as quality
from tests.conftest import query, scalar
from tests.ingest.test_import_orders import LONDON
from warehouse.db import read_only, reader_url
from warehouse.dbt import high_water_mark, run_dbt
from warehouse.panel_io import load_panel, stale_restaurants

SPEC = ChainSpec(restaurants=5, skus=12, days=500, start=date(2024, 8, 19), seed=11)
HAND = Path(__file__).parents[1] / "fixtures" / "dbt"


@pytest.fixture(scope="module")
def built(module_warehouse: str) -> str:
    # GIVEN a synthetic chain, the real London takeaway export and a small hand-worked file:
    # restaurant HAND sells A on 1-4 and 7-11 March, B on 1, 3 and 9 March; nothing at all on 5-6.
    seed(module_warehouse, SPEC)
    import_orders(
        module_warehouse,
        LONDON / "restaurant-1-orders.csv",
        Restaurant("London Takeaway", "London", "London"),
        prices=LONDON / "restaurant-1-products-price.csv",
    )
    import_daily(module_warehouse, HAND / "hand_days.csv", register_new=True)
    # WHEN dbt builds everything
    result = run_dbt(["build", "--full-refresh"], module_warehouse)
    # THEN every model builds and every dbt test passes
    assert result.success, "\n".join(result.failures)
    assert result.passed > 80
    return module_warehouse


def _hand(url: str, sku: str, columns: str = "units") -> dict[date, tuple]:
    rows = query(
        url,
        f"select sale_date, {columns} from marts.fct_daily_sales "
        "where restaurant_id = 'HAND' and sku_id = %s order by sale_date",
        (sku,),
    )
    return {r[0]: r[1:] for r in rows}


def test_spine_zero_fills_open_days_and_flags_closed_days(built):
    a = _hand(built, "HAND-A", "units, is_closed, closure_reason, is_zero_filled")
    b = _hand(built, "HAND-B", "units, is_closed, is_zero_filled")
    march = lambda d: date(2024, 3, d)  # noqa: E731
    # A: every day 1-11; 5-6 March nobody sold anything, so the restaurant counts as closed
    assert list(a) == [march(d) for d in range(1, 12)]
    assert a[march(3)] == (0, False, None, True)  # B sold that day: open, A sold nothing
    assert a[march(5)] == (None, True, "no sales recorded", False)
    assert a[march(6)] == (None, True, "no sales recorded", False)
    assert a[march(4)] == (3, False, None, False)
    # B: from its first sale to the restaurant's last day (11 March), zero where A alone sold
    assert list(b) == [march(d) for d in range(1, 12)]
    assert [b[march(d)][0] for d in range(1, 12)] == [1, 0, 2, 0, None, None, 0, 0, 1, 0, 0]


def test_price_is_carried_forward_and_promo_kept(built):
    a = _hand(built, "HAND-A", "unit_price, on_promo")
    assert float(a[date(2024, 3, 3)][0]) == 2.00  # zero day: last price seen
    assert a[date(2024, 3, 4)] == (pytest.approx(2.50), True)
    assert float(a[date(2024, 3, 6)][0]) == 2.50


def test_synthetic_christmas_is_closed_not_zero(built):
    rows = query(
        built,
        "select distinct is_closed, closure_reason, units from marts.fct_daily_sales "
        "where sale_date = '2024-12-25' and restaurant_id like 'R%%'",
    )
    assert rows == [(True, "christmas", None)]


def test_london_spine_stops_at_its_own_last_day(built):
    first, last, items = query(
        built,
        "select min(sale_date), max(sale_date), count(distinct sku_id) "
        "from marts.fct_daily_sales f join marts.dim_restaurant r using (restaurant_id) "
        "where r.restaurant_name = 'London Takeaway'",
    )[0]
    assert (first, last, items) == (date(2015, 9, 1), date(2019, 8, 3), 248)
    # days without a single order are closed (missing), not 248 zeros
    closed = scalar(
        built,
        "select count(distinct sale_date) from marts.fct_daily_sales f "
        "join marts.dim_restaurant r using (restaurant_id) "
        "where r.restaurant_name = 'London Takeaway' and f.is_closed",
    )
    assert closed == 226
    units = scalar(
        built,
        "select sum(units) from marts.fct_daily_sales f join marts.dim_restaurant r "
        "using (restaurant_id) where r.restaurant_name = 'London Takeaway'",
    )
    raw_units = scalar(
        built,
        "select sum(units) from raw.order_lines d join raw.restaurants r using (restaurant_id) "
        "where r.name = 'London Takeaway'",
    )
    assert units == raw_units > 0


def test_the_forecast_panel_leaves_out_restaurants_whose_data_ended_long_ago(built):
    # London ends 2019-08-03, HAND in March 2024, the synthetic chain on SPEC.end: one forecast
    # origin cannot serve them all (it used to forecast London from 2025 after 6 empty years)
    stale = stale_restaurants(built)
    assert set(stale) == {"london-takeaway", "HAND"}
    panel = load_panel(built, horizon=28)
    assert panel.end.date() == SPEC.end
    assert not set(panel.series["restaurant_id"]) & set(stale)
    alone = load_panel(built, horizon=28, restaurants=["london-takeaway"])
    assert alone.end.date() == date(2019, 8, 3)
    # the data-quality review names them, with their last days (a warning: the run goes on)
    check = quality.silent_restaurants(built, 28)
    assert not check.success and check.severity == "warning"
    assert set(check.details["restaurants"]) == {"london-takeaway", "HAND"}
    assert "london-takeaway: last day 2019-08-03" in check.observed
    # the threshold is a setting: wide enough, nobody is silent
    gap = (SPEC.end - date(2019, 8, 3)).days
    assert quality.silent_restaurants(built, gap).success
    assert set(stale_restaurants(built, None, gap - 1)) == {"london-takeaway"}


def test_the_panel_holds_every_unit_of_the_mart_in_its_place(built):
    """The history arrives as one binary row of arrays per series: every (series, day) cell of
    the panel is the mart's units, and a day without units stays unknown (NaN)."""
    panel = load_panel(built, horizon=28, stale_after_days=None, active_only=False)
    rows = query(
        built,
        "select restaurant_id, sku_id, sale_date, units from features.feat_daily_sales"
        " where units is not null",
    )
    keys = zip(panel.series["restaurant_id"], panel.series["sku_id"], strict=True)
    index = {k: i for i, k in enumerate(keys)}
    expected = np.full(panel.y.shape, np.nan)
    first = panel.dates[0].date()
    for restaurant, sku, day, units in rows:
        expected[index[(restaurant, sku)], (day - first).days] = units
    np.testing.assert_array_equal(panel.y, expected)
    assert np.nansum(panel.y) == sum(r[3] for r in rows) > 0


def test_binary_arrays_are_read_exactly_and_nulls_are_refused(built):
    from warehouse.copy import copy_int4_arrays

    with psycopg.connect(built) as conn:
        keys, a, b = copy_int4_arrays(
            conn,
            "select k, array[k, -k, 2147483647], array[]::int[] from generate_series(0, 2) as k",
        )
        assert keys.tolist() == [0, 1, 2]
        assert [x.tolist() for x in a] == [
            [0, 0, 2147483647],
            [1, -1, 2147483647],
            [2, -2, 2147483647],
        ]
        assert [x.tolist() for x in b] == [[], [], []]
        with pytest.raises(ValueError, match="without nulls"):
            copy_int4_arrays(conn, "select 1, array[1, null]::int[], array[1]")
    # an int8[] would read as pairs of wrong numbers
    with psycopg.connect(built) as conn, pytest.raises(ValueError, match="element type oid 20"):
        copy_int4_arrays(conn, "select 1, array[1, 2]::int8[], array[1]")


def test_calendar_covers_the_forecast_horizon_with_region_holidays(built):
    last_sale = scalar(built, "select max(sale_date) from marts.fct_daily_sales")
    last_day = scalar(built, "select max(date_day) from marts.dim_date")
    assert last_day == last_sale + timedelta(days=400)
    # Boxing Day 2026 (a forecast day) is a holiday in every region with restaurants
    rows = query(
        built,
        "select region, is_holiday, days_to_next_holiday from features.feat_calendar "
        "where date_day = '2026-12-26' order by region",
    )
    assert rows and all(r[1] and r[2] == 0 for r in rows)
    # St Andrew's Day is Scottish only
    assert query(built, "select region from raw.holidays where holiday_date = '2025-12-01'") == [
        ("Scotland",)
    ]
    elsewhere = query(
        built,
        "select bool_or(is_holiday) from features.feat_calendar "
        "where date_day = '2025-12-01' and region <> 'Scotland'",
    )
    assert elsewhere == [(False,)]


def test_marts_are_readable_by_the_reader_role_only_for_reading(built):
    marts = {
        name
        for (name,) in query(
            built,
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts' and c.relkind in ('r', 'p', 'v', 'm')",
        )
    }
    # the sales marts, the forecast marts and the ops marts the dashboard reads
    assert {
        "fct_daily_sales",
        "dim_restaurant",
        "dim_sku",
        "dim_date",
        "fct_forecast",
        "fct_runs",
        "fct_agent_events",
        "fct_rejected_rows",
        "fct_forecast_totals",
        "fct_hindsight_by_horizon_week",
    } <= marts
    for table in sorted(marts):
        assert scalar(
            built, "select has_table_privilege('frycast_reader', %s, 'select')", (f"marts.{table}",)
        ), table
        assert not scalar(
            built, "select has_table_privilege('frycast_reader', %s, 'insert')", (f"marts.{table}",)
        ), table
    # and the reader login reads every one (a view reads its tables with its owner's rights, but
    # calls functions, such as the run states' liveness check, with the reader's)
    with read_only(reader_url(built), 30_000) as conn:
        for table in sorted(marts):
            conn.execute(f'select * from marts."{table}" limit 1').fetchall()


def _sales(url: str) -> list[tuple]:
    """Every value of fct_daily_sales but the build bookkeeping column (it differs by design)."""
    columns = [
        c
        for (c,) in query(
            url,
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = 'fct_daily_sales' and column_name <> 'built_through_batch_id'"
            " order by ordinal_position",
        )
    ]
    return query(url, f"select {', '.join(columns)} from marts.fct_daily_sales order by 1, 2, 3")


def test_an_incremental_build_matches_a_full_rebuild(built):
    # GIVEN a correction of 2 March and a new day, loaded as a later batch
    import_daily(built, HAND / "hand_days_correction.csv")
    # WHEN dbt builds incrementally
    assert run_dbt(["build", "--select", "+feat_daily_sales"], built).success
    incremental = _sales(built)
    # only restaurant HAND was rewritten, from its corrected day; the others kept their rows
    rebuilt = query(
        built,
        "select restaurant_id, min(sale_date) from marts.fct_daily_sales"
        " where built_through_batch_id = (select max(batch_id) from raw.load_batches)"
        " group by 1",
    )
    assert rebuilt == [("HAND", date(2024, 3, 2))]
    staged = query(
        built,
        "select distinct batch_id from staging.stg_raw__daily_sales"
        " where built_through_batch_id = (select max(batch_id) from raw.load_batches)",
    )
    assert staged == [(scalar(built, "select max(batch_id) from raw.load_batches"),)]
    # THEN the latest batch wins, and every table equals a full rebuild's
    assert _hand(built, "HAND-A")[date(2024, 3, 2)] == (40,)
    assert _hand(built, "HAND-A")[date(2024, 3, 12)] == (11,)
    features = query(built, "select * from features.feat_daily_sales order by 1, 2, 3")
    assert run_dbt(["build", "--select", "+feat_daily_sales", "--full-refresh"], built).success
    assert _sales(built) == incremental
    assert query(built, "select * from features.feat_daily_sales order by 1, 2, 3") == features


def test_a_batch_loaded_while_a_build_runs_reaches_the_mart_on_the_next_build(built, tmp_path):
    # GIVEN a build that started before a new batch was committed: staging is built first,
    # then the file is imported, then the models after staging run in the same invocation
    # (one high-water mark, as run_dbt fixes it at the invocation's start)
    header = "restaurant_id,sku_id,sale_date,units,net_sales,unit_price,on_promo\n"
    early, late = tmp_path / "early.csv", tmp_path / "late.csv"
    early.write_text(header + "HAND,HAND-A,2024-03-13,5,12.50,2.50,false\n")
    late.write_text(header + "HAND,HAND-B,2024-03-13,7,21.00,3.00,false\n")
    import_daily(built, early)
    mark = ["--vars", json.dumps({"through_batch_id": high_water_mark(built)})]
    assert run_dbt(["run", "--select", "stg_raw__daily_sales", *mark], built).success
    import_daily(built, late)  # committed while the build is under way
    rest = ["run", "--select", "+feat_daily_sales", "--exclude", "stg_raw__daily_sales"]
    assert run_dbt([*rest, *mark], built).success
    assert _hand(built, "HAND-A")[date(2024, 3, 13)] == (5,)  # the early batch is in
    assert _hand(built, "HAND-B").get(date(2024, 3, 13)) in (None, (0,))  # the late one: not yet
    # WHEN the next build runs (no full refresh)
    result = run_dbt(["build", "--select", "+feat_daily_sales"], built)
    # THEN the batch is in the mart, and the mart still holds every staged unit
    assert result.success, "\n".join(result.failures)
    assert _hand(built, "HAND-B")[date(2024, 3, 13)] == (7,)
    staged = scalar(built, "select sum(units) from staging.stg_raw__daily_sales")
    assert scalar(built, "select sum(units) from marts.fct_daily_sales") == staged


def test_a_batch_starting_after_a_shut_day_builds_that_day_as_closed(built, tmp_path):
    """A week's export whose first day had no sales at all (the restaurant was shut): the
    incremental build fills that day in, as a full rebuild does, instead of leaving a gap in
    the spine (found by the weekly-rerun benchmark: a new week starting after New Year's Day)."""
    last = scalar(built, "select max(sale_date) from marts.fct_daily_sales"
                  " where restaurant_id = 'HAND'")  # fmt: skip
    shut, reopened = last + timedelta(days=1), last + timedelta(days=2)
    export = tmp_path / "after_a_shut_day.csv"
    export.write_text(
        "restaurant_id,sku_id,sale_date,units,net_sales,unit_price,on_promo\n"
        f"HAND,HAND-A,{reopened},6,15.00,2.50,false\n"
        f"HAND,HAND-B,{reopened},2,6.00,3.00,false\n"
    )
    import_daily(built, export)
    result = run_dbt(["build", "--select", "+feat_daily_sales"], built)
    assert result.success, "\n".join(result.failures)  # assert_spine_gap_free among them
    assert _hand(built, "HAND-A", "units, is_closed")[shut] == (None, True)
    assert _hand(built, "HAND-A")[reopened] == (6,)
    incremental = _sales(built)
    assert run_dbt(["build", "--select", "+feat_daily_sales", "--full-refresh"], built).success
    assert _sales(built) == incremental


def test_a_reseed_rebuilds_the_incremental_tables_in_full(built):
    # GIVEN a built warehouse, WHEN the synthetic chain is reseeded smaller (its batch replaced)
    seed(built, ChainSpec(restaurants=2, skus=4, days=120, start=date(2025, 1, 1), seed=3))
    assert run_dbt(["build", "--select", "+feat_daily_sales"], built).success
    # THEN the rows of the replaced batch are gone from staging and the mart, not patched over
    gone = scalar(
        built,
        "select count(*) from marts.fct_daily_sales where restaurant_id like 'R%%'"
        " and sale_date < '2025-01-01'",
    )
    assert gone == 0
    # the new chain's two restaurants, London and HAND
    restaurants = scalar(built, "select count(distinct restaurant_id) from marts.fct_daily_sales")
    assert restaurants == 4
    incremental = _sales(built)
    assert run_dbt(["build", "--select", "+feat_daily_sales", "--full-refresh"], built).success
    assert _sales(built) == incremental
