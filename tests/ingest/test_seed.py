"""Loading the synthetic chain into Postgres with COPY: counts, reruns, and imports kept."""

from __future__ import annotations

from datetime import date

import pandas as pd

from ingest.generator import ChainSpec, build_chain, generate_sales
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from tests.conftest import query, scalar
from tests.ingest.test_import_orders import FIXTURES

SPEC = ChainSpec(restaurants=4, skus=12, days=400, start=date(2024, 1, 1), seed=3)


def test_seed_loads_exactly_what_the_generator_makes(blank_warehouse):
    report = seed(blank_warehouse, SPEC)
    expected = pd.concat(generate_sales(build_chain(SPEC)), ignore_index=True)
    assert report.sales_rows == len(expected)
    assert scalar(blank_warehouse, "select count(*) from raw.daily_sales") == len(expected)
    assert (
        scalar(blank_warehouse, "select sum(units) from raw.daily_sales") == expected["units"].sum()
    )
    assert scalar(blank_warehouse, "select count(*) from raw.restaurants") == 4
    assert scalar(blank_warehouse, "select count(*) from raw.skus") == 12
    regions = {r for (r,) in query(blank_warehouse, "select distinct region from raw.holidays")}
    assert {"London", "Scotland", "Wales", "Northern Ireland"} <= regions
    # planned promotions reach a year past the data, so forecasts can use them
    assert scalar(blank_warehouse, "select max(ends_on) from raw.promotions") > SPEC.end
    assert query(blank_warehouse, "select source, status, rows_loaded from raw.load_batches") == [
        ("synthetic", "loaded", len(expected))
    ]


def test_reseeding_replaces_synthetic_data_and_keeps_imports(blank_warehouse):
    seed(blank_warehouse, SPEC)
    imported = import_orders(blank_warehouse, FIXTURES / "orders_bad.csv", Restaurant("Test Grill"))
    first = query(
        blank_warehouse,
        "select restaurant_id, sku_id, sale_date, units from raw.daily_sales order by 1, 2, 3",
    )
    # WHEN the same seed runs again
    seed(blank_warehouse, SPEC)
    # THEN the data is identical (one loaded synthetic batch, the import untouched), and the
    # first synthetic batch is kept as replaced by the new one (incremental dbt models see it)
    again = query(
        blank_warehouse,
        "select restaurant_id, sku_id, sale_date, units from raw.daily_sales order by 1, 2, 3",
    )
    assert again == first
    assert query(
        blank_warehouse,
        "select source, status, count(*) from raw.load_batches group by 1, 2 order by 1, 2",
    ) == [("orders_csv", "loaded", 1), ("synthetic", "loaded", 1), ("synthetic", "replaced", 1)]
    assert query(
        blank_warehouse,
        "select replaced_by = (select batch_id from raw.load_batches"
        "  where source = 'synthetic' and status = 'loaded')"
        " from raw.load_batches where status = 'replaced'",
    ) == [(True,)]
    assert (
        scalar(
            blank_warehouse,
            "select count(*) from raw.order_lines where batch_id = %s",
            (imported.batch_id,),
        )
        == imported.rows_loaded
    )
    # AND a different seed really replaces the synthetic rows
    seed(blank_warehouse, ChainSpec(2, 5, 30, date(2024, 1, 1), seed=9))
    assert scalar(blank_warehouse, "select count(distinct restaurant_id) from raw.daily_sales") == 2
    assert scalar(blank_warehouse, "select count(*) from raw.order_lines") == imported.rows_loaded
