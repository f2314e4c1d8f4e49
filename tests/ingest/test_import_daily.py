"""Importing daily sales files: good rows load, bad rows are kept with file/line/column reasons."""

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
from tests.conftest import query, scalar

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"


@pytest.fixture
def warehouse(blank_warehouse: str) -> str:
    # GIVEN a warehouse that knows restaurants R0001-R0002 and SKUs S0001-S0003
    seed(blank_warehouse, ChainSpec(restaurants=2, skus=3, days=20, start=date(2024, 1, 1)))
    return blank_warehouse


def _rejections(url: str, batch: int) -> dict[int, tuple[str | None, str]]:
    rows = query(
        url, 'select line_no, "column", reason from raw.rejected_rows where batch_id = %s', (batch,)
    )
    return {line: (col, reason) for line, col, reason in rows}


def test_good_file_loads_every_row(warehouse):
    report = import_daily(warehouse, FIXTURES / "daily_good.csv")
    assert (report.lines_read, report.rows_loaded, report.rejected) == (4, 4, [])
    rows = query(
        warehouse,
        """select restaurant_id, sku_id, sale_date, units, unit_price, on_promo
                                 from raw.daily_sales where batch_id = %s order by 1, 2, 3""",
        (report.batch_id,),
    )
    assert rows[1] == ("R0001", "S0002", date(2024, 3, 1), 3, Decimal("1.99"), True)
    assert rows[3][3] == 0 and rows[3][4] is None  # an explicit zero day, price left blank


def test_bad_values_are_rejected_with_line_column_and_reason(warehouse):
    report = import_daily(warehouse, FIXTURES / "daily_bad_values.csv")
    # THEN the two good lines load and every other line is kept with its reason
    assert report.rows_loaded == 2
    got = _rejections(warehouse, report.batch_id)
    assert got == {
        3: ("sale_date", "unparseable date '2024-13-01' (expected YYYY-MM-DD)"),
        4: ("sale_date", "unparseable date '01/03/2024' (expected YYYY-MM-DD)"),
        5: ("units", "negative quantity -3"),
        6: ("units", "non-numeric quantity 'abc'"),
        7: ("units", "quantity is not a whole number: 2.5"),
        8: (None, "duplicate of line 2"),
        9: (
            "restaurant_id",
            "unknown restaurant_id 'R0999' (load restaurants first, or pass --register-new)",
        ),
        10: ("on_promo", "on_promo must be true/false, found 'maybe'"),
        11: ("sale_date", "date in the future: 2099-01-01"),
        12: (None, "expected 7 fields, found 6"),
    }
    payload = scalar(
        warehouse,
        "select payload from raw.rejected_rows where batch_id = %s and line_no = 5",
        (report.batch_id,),
    )
    assert payload == "R0001,S0002,2024-03-02,-3,-5.97,1.99,false"
    batch = query(
        warehouse,
        "select status, rows_read, rows_loaded, rows_rejected "
        "from raw.load_batches where batch_id = %s",
        (report.batch_id,),
    )
    assert batch == [("loaded", 12, 2, 10)]


def test_missing_column_fails_the_file_and_keeps_earlier_loads(warehouse):
    before = scalar(warehouse, "select count(*) from raw.daily_sales")
    with pytest.raises(InputFileError) as err:
        import_daily(warehouse, FIXTURES / "daily_missing_column.csv")
    assert err.value.line == 1 and err.value.column == "units"
    assert "daily_missing_column.csv, line 1, column 'units': missing column(s) units" in str(
        err.value
    )
    assert scalar(warehouse, "select count(*) from raw.daily_sales") == before
    assert query(warehouse, "select status from raw.load_batches where source = 'daily_csv'") == [
        ("failed",)
    ]


def test_importing_the_same_file_twice_adds_nothing(warehouse):
    first = import_daily(warehouse, FIXTURES / "daily_good.csv")
    count = scalar(warehouse, "select count(*) from raw.daily_sales")
    again = import_daily(warehouse, FIXTURES / "daily_good.csv")
    assert again.skipped_as_duplicate_of == first.batch_id and again.rows_loaded == 0
    assert scalar(warehouse, "select count(*) from raw.daily_sales") == count


def test_unknown_encoding_rejects_the_line_and_names_it(warehouse, tmp_path):
    # GIVEN a Windows-1252 file: 'é' is the single byte 0xe9, not valid UTF-8
    f = tmp_path / "cp1252.csv"
    f.write_bytes(
        b"restaurant_id,sku_id,sale_date,units,net_sales\n"
        b"R0001,S0001,2024-03-01,2,9.98\n"
        b"R0001,S0002,2024-03-01,1,1.99\xe9\n"
    )
    report = import_daily(warehouse, f)
    assert report.rows_loaded == 1
    [(line, col, reason, payload)] = query(
        warehouse, 'select line_no, "column", reason, payload from raw.rejected_rows'
    )
    assert line == 3 and col is None
    assert reason.startswith("not valid utf-8: byte 0xe9 at character 30")
    assert payload.endswith("1.99\\xe9")
    # WHEN the right encoding is given, the header-level check passes and the line is rejected
    # for what it is: a bad number (the 'é' is really there)
    f2 = tmp_path / "cp1252_header.csv"
    f2.write_bytes("restaurant_id,sku_id,sale_date,units,net_sales,pr\u00e9x\n".encode("cp1252"))
    with pytest.raises(InputFileError, match="header is not valid utf-8"):
        import_daily(warehouse, f2)
    assert import_daily(warehouse, f2, encoding="cp1252").lines_read == 0


def test_truncated_file_rejects_the_cut_line_and_loads_the_rest(warehouse, tmp_path):
    f = tmp_path / "truncated.csv"
    f.write_text("restaurant_id,sku_id,sale_date,units\nR0001,S0001,2024-03-01,2\nR0001,S00")
    report = import_daily(warehouse, f)
    assert report.rows_loaded == 1
    assert _rejections(warehouse, report.batch_id) == {
        3: (None, "truncated: the file ends inside this line (2 of 4 fields)")
    }


def test_register_new_adds_unknown_ids(warehouse, tmp_path):
    f = tmp_path / "new.csv"
    f.write_text("restaurant_id,sku_id,sale_date,units\nR0777,S0999,2024-03-01,2\n")
    assert import_daily(warehouse, f).rows_loaded == 0
    report = import_daily(warehouse, f, register_new=True)
    assert report.skipped_as_duplicate_of is None and report.rows_loaded == 1
    assert query(
        warehouse, "select region, opened_on from raw.restaurants where restaurant_id = 'R0777'"
    ) == [("Unassigned", date(2024, 3, 1))]


def test_cli_reports_file_line_and_column(warehouse, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", warehouse)
    from frycast.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        bad = runner.invoke(app, ["import", "daily", str(FIXTURES / "daily_missing_column.csv")])
        assert bad.exit_code == 2
        assert "line 1, column 'units': missing column(s) units" in bad.output
        res = runner.invoke(app, ["import", "daily", str(FIXTURES / "daily_bad_values.csv")])
        assert res.exit_code == 0, res.output
        assert "12 lines read, 2 rows loaded, 10 rejected" in res.output
        assert "daily_bad_values.csv, line 5, column 'units': negative quantity -3" in res.output
        strict = runner.invoke(
            app, ["import", "daily", "--strict", str(FIXTURES / "daily_good.csv")]
        )
        assert strict.exit_code == 0  # nothing rejected, so strict passes
    finally:
        get_settings.cache_clear()
