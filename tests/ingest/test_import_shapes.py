"""`import daily` on the other shapes real exports come in: another delimiter, one column per
item, one line per unit sold, non-items to exclude, event columns beside the sales."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from ingest.csvfile import InputFileError
from ingest.daily import import_daily
from ingest.generator import ChainSpec
from ingest.seed import seed
from ingest.user_calendar import import_calendar
from tests.conftest import query, scalar

MAR1, MAR2 = date(2024, 3, 1), date(2024, 3, 2)


@pytest.fixture
def warehouse(blank_warehouse: str) -> str:
    # GIVEN a warehouse that knows restaurants R0001-R0002 and SKUs S0001-S0003
    seed(blank_warehouse, ChainSpec(restaurants=2, skus=3, days=20, start=date(2024, 1, 1)))
    return blank_warehouse


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _sales(url: str, batch: int) -> set[tuple]:
    return set(
        query(
            url,
            "select restaurant_id, sku_id, sale_date, units from raw.daily_sales"
            " where batch_id = %s",
            (batch,),
        )
    )


def _rejections(url: str, batch: int) -> dict[int, tuple[str | None, str]]:
    rows = query(
        url, 'select line_no, "column", reason from raw.rejected_rows where batch_id = %s', (batch,)
    )
    return {line: (col, reason) for line, col, reason in rows}


def _events(url: str) -> set[tuple]:
    return set(
        query(
            url,
            "select event_date, name, restaurant_id, region, known_since, batch_id"
            " from raw.calendar_events",
        )
    )


@pytest.mark.parametrize("delimiter, sep", [(";", ";"), ("tab", "\t"), ("\\t", "\t")])
def test_semicolon_and_tab_delimited_files(warehouse, tmp_path, delimiter, sep):
    rows = [
        ["restaurant_id", "sku_id", "sale_date", "units", "net_sales"],
        ["R0001", "S0001", "2024-03-01", "2", "9.98"],
        ["R0001", '"S0002"', "2024-03-01", "1", "1,99"],  # a decimal comma is not a number
        ["R0002", "S0003", "2024-03-01", "x", ""],
    ]
    path = _write(tmp_path, "semi.csv", "\n".join(sep.join(r) for r in rows) + "\n")
    # WHEN it is read with the default comma, the header's missing columns point at the delimiter
    with pytest.raises(InputFileError, match=r"pass --delimiter '(;|tab)'"):
        import_daily(warehouse, path)
    report = import_daily(warehouse, path, delimiter=delimiter)
    assert _sales(warehouse, report.batch_id) == {("R0001", "S0001", MAR1, 2)}
    assert _rejections(warehouse, report.batch_id) == {
        3: ("net_sales", "non-numeric net_sales '1,99'"),
        4: ("units", "non-numeric quantity 'x'"),
    }
    assert (
        scalar(
            warehouse,
            "select params->>'delimiter' from raw.load_batches where batch_id = %s",
            (report.batch_id,),
        )
        == sep
    )


def test_wide_file_melts_one_row_per_item_cell(warehouse, tmp_path):
    path = _write(
        tmp_path,
        "wide.csv",
        "Store,Day,S0001,S0002,S0003,S0999,Total,Event\n"
        "R0001,2024-03-01,4,,2,,6,Street fair\n"
        "R0001,2024-03-02,0,x,1,,1,\n"
        "R0002,2024-03-01,,,,,,\n"
        "R0002,2024-03-02,,1,,3,4,\n",
    )
    report = import_daily(
        warehouse,
        path,
        wide=True,
        columns={"restaurant_id": "Store", "sale_date": "Day"},
        exclude=["total"],
        event_cols=["Event"],
    )
    # THEN each non-blank cell is a row of its column's item; a blank cell is no row
    assert _sales(warehouse, report.batch_id) == {
        ("R0001", "S0001", MAR1, 4),
        ("R0001", "S0003", MAR1, 2),
        ("R0001", "S0001", MAR2, 0),
        ("R0001", "S0003", MAR2, 1),
        ("R0002", "S0002", MAR2, 1),
    }
    # a bad cell is rejected naming its line and the item's column; the line's other items load
    assert _rejections(warehouse, report.batch_id) == {
        3: ("S0002", "non-numeric quantity 'x'"),
        5: (
            "S0999",
            "unknown sku_id 'S0999' (load SKUs first, or pass --register-new)",
        ),
    }
    assert "3 cells excluded as not items (Total 3)" in report.notes
    assert _events(warehouse) == {(MAR1, "Street fair", "R0001", None, None, report.batch_id)}
    with pytest.raises(InputFileError, match="one column per item"):
        import_daily(
            warehouse, _write(tmp_path, "no_items.csv", "restaurant_id,sale_date\n"), wide=True
        )


def test_units_per_line_counts_the_lines(warehouse, tmp_path):
    path = _write(
        tmp_path,
        "units.csv",
        "restaurant_id,sku_id,sale_date,net_sales\n"
        "R0001,S0001,2024-03-01,4.99\n"
        "R0001,S0001,2024-03-01,4.99\n"
        "R0001,S0002,2024-03-01,1.99\n"
        "R0001,S0001,2024-03-01,4.99\n"
        "R0001,S0001,2024-03-02,4.99\n"
        "R0001,S0001,2024-03-02,\n"
        "R0001,S0001,2024-13-01,4.99\n",
    )
    with pytest.raises(InputFileError, match="missing column"):
        import_daily(warehouse, path)  # without the option, the quantity column is missing
    report = import_daily(warehouse, path, units_per_line=True)
    assert (report.lines_read, report.rows_loaded) == (7, 3)
    rows = query(
        warehouse,
        "select sku_id, sale_date, units, net_sales from raw.daily_sales where batch_id = %s",
        (report.batch_id,),
    )
    # a repeated line is another unit, not a duplicate; net sales only when every line has them
    assert set(rows) == {
        ("S0001", MAR1, 3, Decimal("14.97")),
        ("S0002", MAR1, 1, Decimal("1.99")),
        ("S0001", MAR2, 2, None),
    }
    assert _rejections(warehouse, report.batch_id) == {
        8: ("sale_date", "unparseable date '2024-13-01' (expected YYYY-MM-DD)")
    }


def test_excluded_values_are_counted_not_rejected(warehouse, tmp_path):
    path = _write(
        tmp_path,
        "excl.csv",
        "restaurant_id,sku_id,sale_date,units\n"
        "R0001,S0001,2024-03-01,2\n"
        "R0001,NONE,2024-03-01,1\n"
        "R0001, none ,2024-03-02,1\n"
        "R0001,Adjustment,2024-03-01,-5\n"
        "R0001,Gift voucher,2024-03-01,1\n"
        "R0001,S0009,2024-03-01,1\n",
    )
    before = import_daily(warehouse, path)
    assert len(_rejections(warehouse, before.batch_id)) == 5  # unknown ids, a negative quantity
    # WHEN the non-items are excluded (any case, trimmed), the same file replaces that batch
    report = import_daily(warehouse, path, exclude=["NONE", "adjustment", " Gift Voucher "])
    assert _sales(warehouse, report.batch_id) == {("R0001", "S0001", MAR1, 2)}
    assert _rejections(warehouse, report.batch_id) == {
        7: ("sku_id", "unknown sku_id 'S0009' (load SKUs first, or pass --register-new)")
    }
    status, rejected, message, params = query(
        warehouse,
        "select status, rows_rejected, message, params->'exclude' from raw.load_batches"
        " where batch_id = %s",
        (report.batch_id,),
    )[0]
    assert (status, rejected) == ("loaded", 1)
    assert "4 lines excluded as not items (NONE 1, none 1, Adjustment 1, Gift voucher 1)" in message
    assert f"replaces batch {before.batch_id}" in message
    assert params == ["adjustment", "gift voucher", "none"]
    assert (
        scalar(
            warehouse, "select status from raw.load_batches where batch_id = %s", (before.batch_id,)
        )
        == "replaced"
    )


def test_event_columns_land_in_the_calendar_and_follow_the_batch(warehouse, tmp_path):
    # GIVEN a planner's own event for R0001 on 1 March, imported with its expected effect
    days = _write(
        tmp_path,
        "days.csv",
        "date,name,kind,restaurant_id,effect\n2024-03-01,Market,event,R0001,1.2\n",
    )
    planner = import_calendar(warehouse, days).batch_id
    path = _write(
        tmp_path,
        "events.csv",
        "restaurant_id,sku_id,sale_date,units,event,local\n"
        "R0001,S0001,2024-03-01,2,Street fair,Market\n"
        "R0001,S0002,2024-03-01,3, Street fair ,\n"
        "R0002,S0001,2024-03-01,1,,\n"
        "R0001,S0001,2024-03-02,abc,Match day,\n"
        "R0999,S0001,2024-03-02,1,Ghost,\n"
        "R0002,S0001,1999-03-02,1,Long ago,\n",
    )
    first = import_daily(warehouse, path, event_cols=["event", "local"])
    # THEN each restaurant-day's named events land once, for the restaurant (no known_since);
    # a line whose units are bad still names its day's event; an unknown restaurant's does not
    assert _events(warehouse) == {
        (MAR1, "Market", "R0001", None, None, planner),  # the planner's row is left as it is
        (MAR1, "Street fair", "R0001", None, None, first.batch_id),
        (MAR2, "Match day", "R0001", None, None, first.batch_id),
    }
    assert _rejections(warehouse, first.batch_id)[5][0] == "units"
    # re-importing the same file adds nothing
    assert import_daily(warehouse, path, event_cols=["event", "local"]).skipped_as_duplicate_of
    # with other options the new batch takes the file's events over
    second = import_daily(warehouse, path, event_cols=["event"])
    assert _events(warehouse) == {
        (MAR1, "Market", "R0001", None, None, planner),
        (MAR1, "Street fair", "R0001", None, None, second.batch_id),
        (MAR2, "Match day", "R0001", None, None, second.batch_id),
    }
    # and without event columns the replaced batch's events go; the planner's stay
    import_daily(warehouse, path)
    assert _events(warehouse) == {(MAR1, "Market", "R0001", None, None, planner)}
    assert scalar(warehouse, "select expected_effect from raw.calendar_events") == Decimal("1.2")


@pytest.fixture
def cli_warehouse(warehouse, monkeypatch):
    """The CLI on the test's warehouse: the settings (cached) are read again from DATABASE_URL."""
    from frycast.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", warehouse)
    get_settings.cache_clear()
    yield warehouse
    get_settings.cache_clear()


def test_cli_takes_the_shape_options(cli_warehouse, tmp_path):
    warehouse = cli_warehouse
    path = _write(
        tmp_path,
        "pos.tsv",
        "Store\tItem\tDay\tPromo night\n"
        "R0001\tS0001\t2024-03-01\tQuiz\n"
        "R0001\tS0001\t2024-03-01\tQuiz\n"
        "R0001\tNONE\t2024-03-01\tQuiz\n"
        "R0001\tGift voucher\t2024-03-01\t\n",
    )
    excluded = _write(tmp_path, "not_items.txt", "NONE\n\ngift voucher\n")
    runner = CliRunner()
    base = ["import", "daily", str(path), "--restaurant-col", "Store", "--sku-col", "Item"]
    base += ["--date-col", "Day", "--delimiter", "tab", "--units-per-line"]
    out = runner.invoke(app, [*base, "--exclude-file", str(excluded), "--event-col", "Promo night"])
    assert out.exit_code == 0, out.output
    assert "4 lines read, 1 rows loaded, 0 rejected" in out.output
    assert "2 lines excluded as not items (NONE 1, Gift voucher 1)" in out.output
    assert query(
        warehouse,
        "select units from raw.daily_sales where sale_date = '2024-03-01'"
        " and restaurant_id = 'R0001' and sku_id = 'S0001'",
    ) == [(2,)]
    assert query(warehouse, "select name from raw.calendar_events") == [("Quiz",)]
    bad = runner.invoke(app, [*base, "--delimiter", "ab"])
    assert bad.exit_code == 2 and "a delimiter is one character" in bad.output
    both = runner.invoke(app, [*base, "--wide"])
    assert both.exit_code == 2 and "quantity per cell" in both.output
