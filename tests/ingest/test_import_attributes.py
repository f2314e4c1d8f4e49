"""Restaurants and items as data (`frycast import restaurants|skus`), calendars by place, and
`import daily` with mapped columns: through the CLI and into the marts of a real warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from ingest.attributes import import_restaurants, import_skus
from ingest.daily import import_daily
from ingest.generator import ChainSpec
from ingest.seed import seed
from tests.conftest import query, scalar
from warehouse.dbt import run_dbt

RESTAURANTS = """restaurant_id,name,region,city,country,subdivision,format,opened_on,closed_on
T001,Shinjuku 1,Tokyo,Tokyo,JP,,high-street,2023-04-01,
T002,Mission 1,California,San Francisco,us,CA,mall,2023-05-01,
T003,Bad Format,Tokyo,Tokyo,JP,,food-truck,2023-05-01,
T004,No Region,,Tokyo,JP,,mall,2023-05-01,
T005,Wrong Country,Kyoto,Kyoto,XX,,mall,2023-05-01,
T006,Wrong Subdivision,Texas,Austin,US,ZZ,mall,2023-05-01,
T007,Closed Early,Tokyo,Tokyo,JP,,mall,2023-05-01,2023-04-01
T008,Two Places,Tokyo,Tokyo,GB,ENG,mall,2023-05-01,
T001,Again,Tokyo,Tokyo,JP,,mall,2023-05-01,
T009,No Opening,Tokyo,Tokyo,JP,,mall,,
T010,No Prefectures,Kyoto,Kyoto,JP,26,mall,2023-05-01,
R0001,,London,,,,,,
"""

SKUS = """sku_id,name,product_group,list_price,launched_on,discontinued_on
J001,Teriyaki Burger,burgers,4.50,2023-04-01,
J002,Matcha Shake,drinks,abc,2023-04-01,
J003,No Group,,3.00,2023-04-01,
J004,Gone Early,sides,1.00,2023-04-01,2023-01-01
S0001,,,9.99,,
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rejections(url: str, batch: int) -> dict[int, tuple[str | None, str]]:
    rows = query(
        url, 'select line_no, "column", reason from raw.rejected_rows where batch_id = %s', (batch,)
    )
    return {line: (col, reason) for line, col, reason in rows}


@pytest.fixture(scope="module")
def warehouse(module_warehouse) -> str:
    # GIVEN a UK chain (R0001, R0002; S0001-S0003) over two years
    seed(module_warehouse, ChainSpec(restaurants=2, skus=3, days=400, start=date(2024, 1, 1)))
    return module_warehouse


def test_restaurants_load_with_their_places_and_bad_lines_are_rejected(warehouse, tmp_path):
    london = (
        "select count(*) from raw.holidays where region = 'London' and holiday_date < '2026-01-01'"
    )
    before = scalar(warehouse, london)
    report = import_restaurants(warehouse, _write(tmp_path, "r.csv", RESTAURANTS))
    got = _rejections(warehouse, report.batch_id)
    allowed = "drive-thru, high-street, mall, transit, takeaway, unknown"
    assert got[4] == ("format", f"unknown format 'food-truck' (allowed: {allowed})")
    assert got[5] == ("region", "missing region")
    assert got[6][0] == "country" and got[6][1].startswith("unknown country 'XX'")
    assert got[7][1].startswith("unknown subdivision 'ZZ' of US (one of: AK, AL")
    assert got[8] == ("closed_on", "closed_on before opened_on")
    assert got[9] == ("country", "region 'Tokyo' is placed in JP on line 2")
    assert got[10] == ("restaurant_id", "duplicate of line 2")
    assert got[11] == ("opened_on", "missing opened_on for a new restaurant")
    assert got[12] == (
        "country",
        "JP has no subdivision calendars in the holidays package (its holidays are country-wide):"
        " leave subdivision blank",
    )
    assert set(got) == {4, 5, 6, 7, 8, 9, 10, 11, 12}
    assert report.rows_loaded == 3  # T001, T002 and the update of R0001 (blank cells keep)
    rows = query(
        warehouse,
        "select r.restaurant_id, r.name, r.region, r.format, g.country, g.subdivision"
        " from raw.restaurants r join raw.regions g using (region) order by 1",
    )
    assert ("T001", "Shinjuku 1", "Tokyo", "high-street", "JP", None) in rows
    assert ("T002", "Mission 1", "California", "mall", "US", "CA") in rows
    r0001 = next(r for r in rows if r[0] == "R0001")
    assert r0001[1] != "R0001" and r0001[4] == "GB"  # the registered name and place kept
    # Japan's holidays for the Japanese regions, not the UK's; London's calendar untouched
    tokyo = dict(
        query(warehouse, "select holiday_date, name from raw.holidays where region = 'Tokyo'")
    )
    assert "Vernal Equinox Day" in tokyo.values() and date(2025, 3, 20) in tokyo
    assert not any("Good Friday" in n for n in tokyo.values())
    assert scalar(warehouse, london) == before
    california = dict(
        query(warehouse, "select name, holiday_date from raw.holidays where region = 'California'")
    )
    assert "Cesar Chavez Day" in california  # the state's own holiday
    # every region's calendar covers the same years, 400 days past the last sale included
    spans = query(
        warehouse,
        "select region, max(holiday_date) from raw.holidays"
        " where region in (select region from raw.restaurants) group by region order by region",
    )
    assert len({d.year for _, d in spans}) == 1 and spans[0][1] >= date(2026, 12, 1)


def test_a_users_holiday_rows_survive_a_change_of_place(warehouse, tmp_path):
    with __import__("psycopg").connect(warehouse) as conn:
        conn.execute(
            "insert into raw.holidays (holiday_date, name, region, source)"
            " values ('2025-08-13', 'Company day', 'California', 'user')"
        )
    # California was meant to be Nevada (a correction): its generated rows are replaced
    text = "restaurant_id,region,country,subdivision\nT002,California,US,NV\n"
    import_restaurants(warehouse, _write(tmp_path, "fix.csv", text))
    sources = dict(
        query(
            warehouse,
            "select source, count(*) from raw.holidays where region = 'California' group by 1",
        )
    )
    assert set(sources) == {"generated:US-NV", "user"} and sources["user"] == 1
    names = {
        n for (n,) in query(warehouse, "select name from raw.holidays where region = 'California'")
    }
    assert "Cesar Chavez Day" not in names and "Nevada Day" in names


def test_skus_load_and_bad_lines_are_rejected(warehouse, tmp_path):
    report = import_skus(warehouse, _write(tmp_path, "s.csv", SKUS))
    got = _rejections(warehouse, report.batch_id)
    assert got == {
        3: ("list_price", "non-numeric list_price 'abc'"),
        4: ("product_group", "missing product_group for a new item"),
        5: ("discontinued_on", "discontinued_on before launched_on"),
    }
    rows = dict(query(warehouse, "select sku_id, list_price from raw.skus"))
    assert float(rows["J001"]) == 4.5 and float(rows["S0001"]) == 9.99
    group = scalar(warehouse, "select product_group from raw.skus where sku_id = 'S0001'")
    assert group != "" and group is not None  # a blank cell keeps the registered group


def test_the_marts_show_each_restaurants_country(warehouse):
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], warehouse)
    assert result.success, "\n".join(result.failures)
    rows = query(
        warehouse,
        "select restaurant_id, country, subdivision from marts.dim_restaurant"
        " where restaurant_id in ('T001', 'R0001') order by 1",
    )
    assert rows[0][1:] == ("GB", "ENG") and rows[1] == ("T001", "JP", None)
    # the Tokyo restaurants' calendar flags the Vernal Equinox, not Good Friday
    flags = dict(
        query(
            warehouse,
            "select date_day, is_holiday from features.feat_calendar where region = 'Tokyo'"
            " and date_day in ('2025-03-20', '2025-04-18')",
        )
    )
    assert flags == {date(2025, 3, 20): True, date(2025, 4, 18): False}


def test_import_daily_maps_columns_and_places_regions(warehouse, tmp_path):
    text = "Store,Item,Day,Qty\nT001,J001,2025-01-06,7\nT001,J001,2025-01-07,x\n"
    path = _write(tmp_path, "daily.csv", text)
    report = import_daily(
        warehouse,
        path,
        columns={"restaurant_id": "Store", "sku_id": "Item", "sale_date": "Day", "units": "Qty"},
    )
    assert report.rows_loaded == 1
    assert _rejections(warehouse, report.batch_id) == {3: ("units", "non-numeric quantity 'x'")}
    assert query(
        warehouse, "select units from raw.daily_sales where batch_id = %s", (report.batch_id,)
    ) == [(7,)]


def test_the_cli_refuses_an_unknown_country_and_format_before_loading(
    warehouse, tmp_path, monkeypatch
):
    from frycast.settings import get_settings

    # the settings are cached: an env= on the runner alone reached the server's default database
    monkeypatch.setenv("DATABASE_URL", warehouse)
    get_settings.cache_clear()
    path = _write(tmp_path, "d.csv", "restaurant_id,sku_id,sale_date,units\n")
    runner = CliRunner()
    env = {"DATABASE_URL": warehouse}
    out = runner.invoke(app, ["import", "daily", str(path), "--country", "XX"], env=env)
    assert out.exit_code == 2 and "unknown country 'XX'" in out.output
    out = runner.invoke(
        app,
        ["import", "orders", str(path), "--restaurant", "X", "--format", "food-truck"],
        env=env,
    )
    assert out.exit_code == 2 and "unknown format 'food-truck'" in out.output
    out = runner.invoke(app, ["import", "restaurants", str(tmp_path / "none.csv")], env=env)
    assert out.exit_code == 2 and "none.csv" in out.output
    # the failed load is on record in this warehouse
    failed = "select count(*) from raw.load_batches where status = 'failed' and file_name like %s"
    assert scalar(warehouse, failed, ("%none.csv",)) == 1
    get_settings.cache_clear()


CALENDAR = """date,name,kind,region,restaurant_id,effect,known_since
2025-06-02,Company Day,holiday,Tokyo,,,
2025-06-03,Refit,closure,,T001,,
2025-06-04,Summer Festival,event,Tokyo,,1.4,2025-03-01
2025-06-05,Match Day,event,,T001,abc,
2025-06-06,Nowhere,event,Atlantis,,,
2025-06-07,Both,event,Tokyo,T001,,
2025-06-08,Neither,event,,,,
2025-06-09,One Shop Holiday,holiday,,T001,,
2025-06-10,Party,party,Tokyo,,,
2025-13-01,Bad Date,event,Tokyo,,,
2025-06-02,Company Day,holiday,Tokyo,,,
2025-12-25,Christmas (regional),closure,California,,,
"""


def test_a_planners_calendar_loads_and_bad_lines_are_rejected(warehouse, tmp_path):
    from ingest.user_calendar import import_calendar

    report = import_calendar(warehouse, _write(tmp_path, "cal.csv", CALENDAR))
    got = _rejections(warehouse, report.batch_id)
    assert got == {
        5: ("effect", "non-numeric effect 'abc'"),
        6: ("region", "unknown region 'Atlantis' (no restaurant is in it)"),
        7: ("region", "give a region or a restaurant_id, not both"),
        8: ("region", "give a region or a restaurant_id"),
        9: (
            "restaurant_id",
            "a holiday belongs to a region's calendar: give the region (a day one restaurant "
            "closes is a closure)",
        ),
        10: ("kind", "unknown kind 'party' (holiday | event | closure)"),
        11: ("date", "unparseable date '2025-13-01' (expected YYYY-MM-DD)"),
        12: ("date", "duplicate of line 2"),
    }
    assert (
        scalar(
            warehouse,
            "select source from raw.holidays where region = 'Tokyo'"
            " and holiday_date = '2025-06-02'",
        )
        == "user"
    )
    closures = query(
        warehouse,
        "select restaurant_id, closed_from, reason from raw.restaurant_closures"
        " where batch_id = %s order by 1, 2",
        (report.batch_id,),
    )
    assert closures == [
        ("T001", date(2025, 6, 3), "Refit"),
        ("T002", date(2025, 12, 25), "Christmas (regional)"),  # every restaurant of the region
    ]
    events = query(
        warehouse, "select event_date, name, region, expected_effect, known_since"
        " from raw.calendar_events",
    )  # fmt: skip
    assert [(e[0], e[1], e[2], float(e[3]), e[4]) for e in events] == [
        (date(2025, 6, 4), "Summer Festival", "Tokyo", 1.4, date(2025, 3, 1))
    ]
