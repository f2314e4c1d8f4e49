"""Nothing lost, nothing invented, in the mart: overlapping exports, corrections by re-import,
ids, partial days and per-batch rejection rates, each asserted on marts.fct_daily_sales after a
real dbt build."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingest.csvfile import InputFileError
from ingest.daily import import_daily
from ingest.orders import Restaurant, import_orders
from quality import checks as quality
from tests.conftest import query, scalar
from warehouse.dbt import run_dbt

HEADER = "OrderNumber,OrderDate,ItemName,Quantity,ProductPrice,TotalProducts\n"
GRILL = Restaurant("Test Grill")


def build(url: str) -> None:
    marts = ["+feat_daily_sales", "+dim_sku", "+dim_restaurant", "+dim_date"]
    result = run_dbt(["build", "--select", *marts], url)
    assert result.success, "\n".join(result.failures)


def mart_units(url: str, restaurant: str = "test-grill") -> dict[tuple[str, date], int | None]:
    return dict(
        ((s, d), u)
        for s, d, u in query(
            url,
            "select sku_id, sale_date, units from marts.fct_daily_sales"
            " where restaurant_id = %s and (units > 0 or (units is null and not is_closed))",
            (restaurant,),
        )
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


def test_overlapping_exports_add_up_and_say_what_they_restate(blank_warehouse, tmp_path):
    # GIVEN an export of 13-14 August and a later one of 14-15 August: both hold order 2
    first = write(
        tmp_path / "a.csv",
        [
            "1,13/08/2019 12:00,Garlic Naan,2,2.95,1",
            "2,14/08/2019 12:00,Garlic Naan,1,2.95,2",
            "2,14/08/2019 12:00,Garlic Naan,1,2.95,2",  # a second naan in the same order
        ],
    )
    second = write(
        tmp_path / "b.csv",
        [
            "2,14/08/2019 12:00,Garlic Naan,1,2.95,2",
            "2,14/08/2019 12:00,Garlic Naan,1,2.95,2",
            "3,14/08/2019 19:00,Garlic Naan,4,2.95,1",
            "4,15/08/2019 19:00,Garlic Naan,5,2.95,1",
        ],
    )
    import_orders(blank_warehouse, first, GRILL)
    report = import_orders(blank_warehouse, second, GRILL)
    build(blank_warehouse)
    # THEN the shared order counts once and the rest adds up: 2 + (1 + 1 + 4) + 5
    naan = "garlic-naan"
    assert mart_units(blank_warehouse) == {
        (naan, date(2019, 8, 13)): 2,
        (naan, date(2019, 8, 14)): 6,
        (naan, date(2019, 8, 15)): 5,
    }
    assert "restates 2 order lines already loaded on 1 days (2019-08-14)" in report.summary()
    # AND importing the first file again changes nothing
    again = import_orders(blank_warehouse, first, GRILL)
    assert again.skipped_as_duplicate_of is not None


def test_a_reimport_with_corrected_options_replaces_the_batch(blank_warehouse, tmp_path):
    # GIVEN a month-first export read day-first by mistake (every date is ambiguous)
    path = write(
        tmp_path / "us.csv",
        ["1,08/03/2019 12:00,Taco,3,2.50,1", "2,08/04/2019 12:00,Taco,4,2.50,1"],
    )
    with pytest.raises(InputFileError, match="pass --dayfirst or --monthfirst"):
        import_orders(blank_warehouse, path, GRILL)
    import_orders(blank_warehouse, path, GRILL, dayfirst=True)
    build(blank_warehouse)
    assert mart_units(blank_warehouse) == {
        ("taco", date(2019, 3, 8)): 3,
        ("taco", date(2019, 4, 8)): 4,
    }
    # WHEN it is imported again month-first, with product groups this time
    groups = tmp_path / "groups.csv"
    groups.write_text("item,product_group\nTaco,Mains\n")
    report = import_orders(
        blank_warehouse, path, Restaurant("Test Grill", region="Texas"), dayfirst=False,
        product_groups=groups,
    )  # fmt: skip
    build(blank_warehouse)
    # THEN the swapped days are gone, not kept beside the right ones
    assert mart_units(blank_warehouse) == {
        ("taco", date(2019, 8, 3)): 3,
        ("taco", date(2019, 8, 4)): 4,
    }
    assert "replaces batch" in report.summary() and "4 rows changed, units 7 -> 7" in (
        report.summary()
    )
    assert query(
        blank_warehouse, "select status, count(*) from raw.load_batches group by 1 order by 1"
    ) == [("failed", 1), ("loaded", 1), ("replaced", 1)]
    # AND the attributes given this time are applied
    assert query(
        blank_warehouse,
        "select s.product_group, r.region, r.opened_on"
        " from marts.dim_sku s, marts.dim_restaurant r",
    ) == [("Mains", "Texas", date(2019, 8, 3))]


def test_a_file_without_a_parseable_date_loads_nothing_and_says_why(blank_warehouse, tmp_path):
    path = write(tmp_path / "nodates.csv", ["1,someday,Taco,3,2.50,1", "2,,Taco,1,2.50,1"])
    report = import_orders(blank_warehouse, path, GRILL)
    assert report.rows_loaded == 0
    assert [r.reason for r in report.rejected] == [
        "unparseable date 'someday' (expected day-first, e.g. 03/08/2019 20:25)",
        "unparseable date '' (expected day-first, e.g. 03/08/2019 20:25)",
    ]


def test_distinct_names_keep_distinct_ids_and_asked_merges_are_reported(blank_warehouse, tmp_path):
    path = write(
        tmp_path / "names.csv",
        [
            "1,13/08/2019 12:00,Naan (Plain),1,2.00,1",
            "2,13/08/2019 12:00,Naan Plain,2,2.00,1",
            "3,13/08/2019 12:00,naan-plain,4,2.00,1",
        ],
    )
    import_orders(blank_warehouse, path, Restaurant("강남점"))
    # (another file: the same file again would be a correction of the first import)
    other_path = tmp_path / "names2.csv"
    other_path.write_text(path.read_text().replace("\n1,", "\n11,"))
    import_orders(blank_warehouse, other_path, Restaurant("홍대점"))
    build(blank_warehouse)
    ids = query(blank_warehouse, "select name, sku_id from raw.skus order by name")
    assert len({i for _, i in ids}) == 3 and all(i for _, i in ids)
    assert dict(ids)["Naan (Plain)"] == "naan-plain"  # the first to claim the slug keeps it
    restaurants = query(blank_warehouse, "select restaurant_id from raw.restaurants order by 1")
    assert restaurants == [("강남점",), ("홍대점",)]
    # each restaurant keeps all 7 units (nothing merged away in staging)
    for (r,) in restaurants:
        assert sum(mart_units(blank_warehouse, r).values()) == 7
    # WHEN a mapping file asks for the three names to be one item
    mapping = tmp_path / "ids.csv"
    mapping.write_text("item,sku_id\nNaan (Plain),naan\nNaan Plain,naan\nnaan-plain,naan\n")
    other = write(tmp_path / "more.csv", ["9,14/08/2019 12:00,Naan Plain,3,2.00,1"])
    report = import_orders(blank_warehouse, other, Restaurant("강남점"), item_ids=mapping)
    assert report.rows_loaded == 1
    path2 = write(tmp_path / "all.csv", ["7,15/08/2019 12:00,Naan (Plain),1,2.00,2",
                                          "7,15/08/2019 12:00,naan-plain,1,2.00,2"])  # fmt: skip
    merged = import_orders(blank_warehouse, path2, Restaurant("강남점"), item_ids=mapping)
    assert "merged as" in merged.summary() and "'Naan (Plain)', 'naan-plain' -> naan" in (
        merged.summary()
    )


def test_a_partial_daily_file_is_flagged_not_zero_filled(blank_warehouse, tmp_path):
    # GIVEN two weeks of a restaurant selling 4 items a day
    start = date(2024, 3, 1)
    head = "restaurant_id,sku_id,sale_date,units\n"
    full = tmp_path / "full.csv"
    full.write_text(
        head
        + "".join(f"R1,S{k},{start + timedelta(d)},{k + 1}\n" for d in range(14) for k in range(4))
    )
    import_daily(blank_warehouse, full, register_new=True)
    # WHEN a later file brings two more days of one item only
    part = tmp_path / "part.csv"
    part.write_text(head + "".join(f"R1,S0,{start + timedelta(14 + d)},9\n" for d in range(2)))
    import_daily(blank_warehouse, part)
    build(blank_warehouse)
    units = mart_units(blank_warehouse, "R1")
    # THEN the other items are unknown those days (null), not zero; S0's sales are there
    late = [start + timedelta(14), start + timedelta(15)]
    assert [units[("S0", d)] for d in late] == [9, 9]
    assert all(units[(f"S{k}", d)] is None for k in (1, 2, 3) for d in late)
    check = quality.partial_days(blank_warehouse)
    assert not check.success and check.observed == "R1: 2 days (2024-03-15, 2024-03-16)"
    # AND declared complete (a re-import with --complete), the missing items sold none
    import_daily(blank_warehouse, part, complete=True)
    build(blank_warehouse)
    assert mart_units(blank_warehouse, "R1").get(("S1", late[0])) is None  # 0: not listed
    assert (
        scalar(
            blank_warehouse,
            "select units from marts.fct_daily_sales where sku_id = 'S1' and sale_date = %s",
            (late[0],),
        )
        == 0
    )
    assert quality.partial_days(blank_warehouse).success


def test_a_batch_that_lost_lines_fails_the_rejection_check(blank_warehouse, tmp_path):
    lines = [f"{n},13/08/2019 12:00,Taco,1,2.50,1" for n in range(1, 20)] + [
        "20,13/08/2019 12:00,Taco,lots,2.50,1"
    ]
    report = import_orders(blank_warehouse, write(tmp_path / "t.csv", lines), GRILL)
    check = quality.rejections(blank_warehouse, quality.Window(0, report.batch_id))
    assert not check.success and check.severity == "warning"
    assert "1 of 20 lines rejected (5.0%)" in check.observed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_overlapping_batches_sum_to_the_same_mart(blank_warehouse, tmp_path, seed):
    # GIVEN random good order lines, imported whole once and as random overlapping exports
    rng = random.Random(seed)
    days = [date(2019, 8, 1) + timedelta(d) for d in range(10)]
    orders = []
    for n in range(60):
        day = rng.choice(days)
        items = [rng.choice(["Naan", "Rice", "Dal", "Tikka"]) for _ in range(rng.randint(1, 4))]
        orders += [
            f"{n},{day:%d/%m/%Y} 12:00,{item},{rng.randint(1, 3)},2.00,{len(items)}"
            for item in items
        ]
    whole = Restaurant("Whole")
    import_orders(blank_warehouse, write(tmp_path / "whole.csv", orders), whole, dayfirst=True)
    split = Restaurant("Split")
    # exports cut at order boundaries that overlap their neighbours at random and together
    # cover every order
    numbers = sorted({int(o.split(",")[0]) for o in orders})
    cuts = [0, *sorted(rng.sample(numbers[1:-1], 3)), numbers[-1] + 1]
    for k, (lo, hi) in enumerate(zip(cuts, cuts[1:], strict=False)):
        lo, hi = lo - rng.randint(0, 10), hi + rng.randint(0, 10)
        part = [o for o in orders if lo <= int(o.split(",")[0]) < hi]
        import_orders(blank_warehouse, write(tmp_path / f"s{k}.csv", part), split, dayfirst=True)
    build(blank_warehouse)
    # THEN both restaurants hold the same units on every item and day
    assert mart_units(blank_warehouse, "split") == mart_units(blank_warehouse, "whole")
    assert sum(mart_units(blank_warehouse, "whole").values()) == sum(
        int(o.split(",")[3]) for o in orders
    )
