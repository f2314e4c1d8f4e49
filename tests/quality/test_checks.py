"""The row-level data-quality rules run set-based in the database and GX judges the counts: each
rule fails on exactly the rows that break it, in the batches the run checks, and passes on clean
data."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from ingest.generator import ChainSpec
from ingest.seed import seed
from quality.checks import Window, run_expectations
from tests.conftest import scalar
from warehouse.dbt import run_dbt

SPEC = ChainSpec(restaurants=3, skus=8, days=120, start=date(2025, 1, 1), seed=5)


@pytest.fixture(scope="module")
def staged(module_warehouse):
    url = module_warehouse
    seed(url, SPEC)
    assert run_dbt(["run", "--select", "stg_raw__daily_sales"], url).success
    return url


def _by_name(checks) -> dict:
    return {c.check_name: c for c in checks}


def test_clean_data_passes_every_check_with_its_counts(staged):
    through = scalar(staged, "select max(batch_id) from raw.load_batches")
    checks = _by_name(run_expectations(staged, Window(0, through)))
    assert all(c.success for c in checks.values()), [c for c in checks.values() if not c.success]
    raw = "raw_daily_sales.expect_column_max_to_be_between"
    assert checks[f"{raw}[rows_with_negative_units]"].observed == "0"
    assert checks[f"{raw}[rows_repeating_a_key]"].observed == "0"
    assert checks[f"{raw}[rows_with_negative_units]"].table_name == "raw.daily_sales (every batch)"
    rows = scalar(staged, "select count(*) from raw.daily_sales")
    assert checks["raw_batches.expect_column_sum_to_be_between[rows_now]"].observed == str(rows)


def test_each_rule_counts_the_rows_that_break_it_in_the_new_batch_only(staged):
    with psycopg.connect(staged) as conn:
        before = conn.execute("select max(batch_id) from raw.load_batches").fetchone()[0]
        batch = conn.execute(
            "insert into raw.load_batches (source, status, rows_read, rows_loaded)"
            " values ('daily_csv', 'loaded', 5, 5) returning batch_id"
        ).fetchone()[0]
        # five rows on the day after the data: one negative, one repeated (twice over: two extra
        # copies of one key), one of 6,000 units, one priced at 250
        conn.execute(
            """insert into raw.daily_sales
                 (restaurant_id, sku_id, sale_date, units, unit_price, batch_id)
               select restaurant_id, sku_id, max(sale_date) + 1, v.units, v.price, %s
                 from raw.daily_sales,
                      (values (1, -4, 2.5), (2, 6000, 2.5), (3, 7, 250.0)) v(k, units, price)
                where sku_id = (select min(sku_id) from raw.daily_sales)
                  and restaurant_id = (
                      select (array_agg(distinct restaurant_id order by restaurant_id))[v.k]
                        from raw.daily_sales)
                group by restaurant_id, sku_id, v.units, v.price""",
            (batch,),
        )
        conn.execute(
            """insert into raw.daily_sales
                 (restaurant_id, sku_id, sale_date, units, unit_price, batch_id)
               select restaurant_id, sku_id, sale_date, 1, unit_price, batch_id
                 from raw.daily_sales where batch_id = %s and units = 7
               union all
               select restaurant_id, sku_id, sale_date, 2, unit_price, batch_id
                 from raw.daily_sales where batch_id = %s and units = 7""",
            (batch, batch),
        )
    try:
        assert run_dbt(["run", "--select", "stg_raw__daily_sales"], staged).success
        checks = _by_name(run_expectations(staged, Window(before, batch)))
        raw = "raw_daily_sales.expect_column_max_to_be_between"
        stg = "staging_daily_sales.expect_column_max_to_be_between"
        neg = checks[f"{raw}[rows_with_negative_units]"]
        assert (neg.success, neg.observed, neg.severity) == (False, "1", "critical")
        assert neg.table_name == f"raw.daily_sales (batch {batch})"
        rep = checks[f"{raw}[rows_repeating_a_key]"]
        assert (rep.success, rep.observed, rep.severity) == (False, "2", "critical")
        # staging keeps one row per key (the latest batch's): 3 rows, one negative, one 6,000,
        # one at 250 (the repeats' price too) -> shares of a third
        assert checks[f"{stg}[rows_with_negative_units]"].observed == "1"
        big = checks[f"{stg}[share_units_over_5000]"]
        assert (big.success, big.severity) == (False, "warning")
        assert float(big.observed) == pytest.approx(1 / 3)
        price = checks[f"{stg}[share_price_outside_0_100]"]
        assert (price.success, float(price.observed)) == (False, pytest.approx(1 / 3))
        # the batch counts still match what each batch loaded (5 loaded, 5 there)
        pair = checks["raw_batches.expect_column_pair_values_to_be_equal[rows_loaded,rows_now]"]
        assert pair.success
        # and the old batches, checked before, are not re-read row by row: the same rules over
        # the window before this batch pass
        assert all(
            c.success
            for c in run_expectations(staged, Window(0, before))
            if "[rows_" in c.check_name
        )
    finally:
        with psycopg.connect(staged) as conn:
            conn.execute("delete from raw.daily_sales where batch_id = %s", (batch,))
            conn.execute("delete from raw.load_batches where batch_id = %s", (batch,))
