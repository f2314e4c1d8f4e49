"""Importing point-of-sale order lines: the real London takeaway export and bad input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from ingest.csvfile import InputFileError
from ingest.orders import OrderColumns, Restaurant, import_orders
from tests.conftest import query, scalar
from warehouse.dbt import run_dbt

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"
LONDON = Path(__file__).parents[2].parent / "shared" / "data" / "london_takeaway"
TAKEAWAY = Restaurant("London Takeaway", region="London", city="London")


@pytest.fixture(scope="module")
def london(module_warehouse: str):
    # GIVEN the real export of a London takeaway (74,818 order lines, 248 menu items)
    report = import_orders(
        module_warehouse,
        LONDON / "restaurant-1-orders.csv",
        TAKEAWAY,
        prices=LONDON / "restaurant-1-products-price.csv",
    )
    return module_warehouse, report


def staged(url: str, where: str = "true") -> list[tuple]:
    """(sku_id, sale_date, units, net_sales) as staging sums the loaded order lines."""
    result = run_dbt(["run", "--select", "stg_raw__daily_sales"], url)
    assert result.success, "\n".join(result.failures)
    return query(
        url,
        "select sku_id, sale_date, units, net_sales from staging.stg_raw__daily_sales"
        f" where {where} order by sale_date, sku_id",
    )


def test_london_import_registers_the_restaurant_and_its_248_items(london):
    url, report = london
    assert report.lines_read == 74_818
    assert query(
        url, "select restaurant_id, region, city, format, opened_on from raw.restaurants"
    ) == [("london-takeaway", "London", "London", "takeaway", date(2015, 9, 1))]
    assert scalar(url, "select count(*) from raw.skus") == 248
    assert scalar(url, "select count(distinct sku_id) from raw.order_lines") == 248
    # list prices come from the price file
    assert scalar(url, "select list_price from raw.skus where name = 'Plain Papadum'") == Decimal(
        "0.80"
    )


def test_london_repeated_lines_are_sales_unless_the_order_says_otherwise(london):
    url, report = london
    orders = pd.read_csv(LONDON / "restaurant-1-orders.csv")
    # the export repeats 97 lines exactly; only 5 orders have more lines than their own
    # TotalProducts (24 lines too many): those repeats go, the other 73 are sales
    lines = orders.groupby("OrderNumber")["OrderNumber"].transform("size")
    doubled = (lines > orders["TotalProducts"]) & orders.duplicated()
    assert int(orders.duplicated().sum()) == 97 and int(doubled.sum()) == 24
    assert len(report.rejected) == 24
    assert {r.reason.split(":")[0].split(" of line")[0] for r in report.rejected} == {"repeat"}
    assert "order 13220 has 16 lines but its TotalProducts says 8" in report.rejected[0].reason
    expected = int(orders.loc[~doubled, "Quantity"].sum())
    assert scalar(url, "select sum(units) from raw.order_lines") == expected
    assert sum(units for _, _, units, _ in staged(url)) == expected
    assert scalar(url, "select rows_rejected from raw.load_batches") == 24


def test_london_dates_are_read_day_first(london):
    url, _ = london
    # '03/08/2019 20:25' is the 3rd of August; the export ends that day
    # (detected from the data: '31/07/2019' can only be day-first)
    assert query(url, "select min(sale_date), max(sale_date) from raw.order_lines") == [
        (date(2015, 9, 1), date(2019, 8, 3))
    ]
    # month-first would turn '12/07/2019' into 7 December 2019, after the export ends
    assert scalar(url, "select count(*) from raw.order_lines where sale_date = '2019-08-03'") > 0
    assert scalar(url, "select count(*) from raw.order_lines where sale_date > '2019-08-03'") == 0
    assert scalar(url, "select params ->> 'dayfirst' from raw.load_batches") == "true"


def test_bad_order_lines_are_kept_with_reasons(blank_warehouse):
    report = import_orders(blank_warehouse, FIXTURES / "orders_bad.csv", Restaurant("Test Grill"))
    got = {r.line_no: (r.column, r.reason) for r in report.rejected}
    # line 4 repeats line 3, and order 1 says it has 3 lines: a second Garlic Naan, sold
    assert got == {
        5: ("Quantity", "negative quantity -1"),
        6: (
            "OrderDate",
            "unparseable date '2019-07-32' (expected day-first, e.g. 03/08/2019 20:25)",
        ),
        7: ("Quantity", "non-numeric quantity 'x'"),
    }
    rows = staged(blank_warehouse)
    assert [(s, d, u) for s, d, u, _ in rows] == [
        ("pilau-rice", date(2019, 7, 12), 1),  # 12/07 is the 12th of July
        ("pilau-rice", date(2019, 7, 30), 2),
        ("garlic-naan", date(2019, 8, 3), 2),
        ("plain-papadum", date(2019, 8, 3), 2),
    ]
    assert float(rows[1][3]) == pytest.approx(5.90)
    assert scalar(blank_warehouse, "select count(*) from raw.rejected_rows") == 3


def test_column_mapping_and_month_first(blank_warehouse, tmp_path):
    f = tmp_path / "us.csv"
    f.write_text("ticket,when,product,qty\n1,07/12/2019,Taco,3\n2,07/12/2019,Taco,1\n")
    cols = OrderColumns(order="ticket", date="when", item="product", quantity="qty", price=None)
    report = import_orders(
        blank_warehouse, f, Restaurant("Austin Tacos"), columns=cols, dayfirst=False
    )
    assert report.rows_loaded == 2
    assert [row[:3] for row in staged(blank_warehouse)] == [("taco", date(2019, 7, 12), 4)]


def test_missing_mapped_column_fails_with_its_name(blank_warehouse):
    with pytest.raises(InputFileError, match=r"line 1, column 'Qty': missing column\(s\) Qty"):
        import_orders(
            blank_warehouse,
            FIXTURES / "orders_bad.csv",
            Restaurant("X"),
            columns=OrderColumns(quantity="Qty"),
        )
    assert scalar(blank_warehouse, "select count(*) from raw.order_lines") == 0
