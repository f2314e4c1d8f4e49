"""Every line judged on its own: a bad value rejects its line with a reason and the good lines of
the same file load; what cannot be read as a file is a failed batch with one clear line (exit 2),
never a traceback; a file that loads nothing exits non-zero. Real PostgreSQL, exact units."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from cli.main import app
from frycast.settings import get_settings
from ingest.csvfile import InputFileError
from ingest.daily import import_daily
from ingest.generator import ChainSpec
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from tests.conftest import query, scalar
from tests.ingest.test_import_orders import staged

HEADER = "restaurant_id,sku_id,sale_date,units,net_sales,unit_price,on_promo\n"


@pytest.fixture
def warehouse(blank_warehouse: str) -> str:
    seed(blank_warehouse, ChainSpec(restaurants=2, skus=3, days=20, start=date(2024, 1, 1)))
    return blank_warehouse


def _units(url: str, batch: int) -> int:
    return scalar(url, "select coalesce(sum(units), 0) from raw.daily_sales where batch_id = %s",
                  (batch,))  # fmt: skip


def test_each_hostile_line_is_rejected_with_its_reason_and_the_good_ones_load(warehouse, tmp_path):
    lines = [
        "R0001,S0001,2024-03-01,5,10.00,2.00,false",  # 2: good
        "R0001,S0002,2024-03-01,2147483648,,,false",  # 3: past int32
        "R0001,S0003,2024-03-01,2000000000,,,false",  # 4: two billion a day
        "R0002,S0001,2024-03-01,1e3,,,false",  # 5: exponent
        "R0002,S0002,2024-03-01,inf,,,false",  # 6: infinity
        "R0002,S0003,2024-03-01,3,100000000000.00,,false",  # 7: money beyond numeric(12,2)
        "R0001,S0001,2024-03-02,4,nan,,false",  # 8: money not a number
        "R0001,S0002,1900-01-01,2,,,false",  # 9: implausible date
        "R0001,S0003,2024-03-02,1\x00,,,false",  # 10: NUL byte
        "R0002,S0001,2024-03-02,1," + "x" * (130 * 1024) + ",,false",  # 11: field over 128 KiB
        "R0002,S0002,2024-03-02,7,,,false",  # 12: good
    ]
    path = tmp_path / "hostile.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    report = import_daily(warehouse, path)
    reasons = {r.line_no: (r.column, r.reason) for r in report.rejected}
    assert reasons == {
        3: ("units", "implausible quantity (over 1,000,000 a day): 2147483648"),
        4: ("units", "implausible quantity (over 1,000,000 a day): 2000000000"),
        5: ("units", "quantity is not written as a plain number: '1e3'"),
        6: ("units", "quantity is not a finite number: 'inf'"),
        7: ("net_sales", "net_sales beyond 10,000,000,000: 100000000000.00"),
        8: ("net_sales", "non-numeric net_sales 'nan'"),
        9: ("sale_date", "implausible date (before 2000-01-01): 1900-01-01"),
        10: (None, "the line contains a NUL byte"),
        11: (None, "a field is longer than 128 KiB"),
    }
    # exactly the good lines' units are in, and every rejection is stored with its reason
    assert report.rows_loaded == 2 and _units(warehouse, report.batch_id) == 12
    stored = scalar(warehouse, "select count(*) from raw.rejected_rows where batch_id = %s",
                    (report.batch_id,))  # fmt: skip
    assert stored == 9


def test_a_file_with_cr_only_line_ends_loads_line_by_line(warehouse, tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(
        (HEADER + "R0001,S0001,2024-03-01,5,,,false\nR0001,S0002,2024-03-01,6,,,false\n")
        .replace("\n", "\r")
        .encode()
    )
    report = import_daily(warehouse, path)
    assert (report.rows_loaded, report.rejected) == (2, [])
    assert _units(warehouse, report.batch_id) == 11


def test_a_repeated_header_name_fails_the_file_naming_the_column(warehouse, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("restaurant_id,sku_id,sale_date,units,units\nR0001,S0001,2024-03-01,1,2\n")
    with pytest.raises(InputFileError, match="line 1, column 'units': the header names units"):
        import_daily(warehouse, path)
    assert query(
        warehouse, "select status from raw.load_batches order by batch_id desc limit 1"
    ) == [("failed",)]


def test_a_bad_price_leaves_the_price_unknown_and_keeps_the_units(blank_warehouse, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "OrderNumber,OrderDate,ItemName,Quantity,ProductPrice,TotalProducts\n"
        '1,03/08/2019 20:25,Garlic Naan,2,"1,20 €",1\n'
        "2,03/08/2019 21:00,Garlic Naan,1,2.95,1\n"
        "3,04/08/2019 12:00,Pilau Rice,3,,1\n"
        "4,04/08/2019 13:00,Plain Papadum,1,0.80,1\n"
    )
    report = import_orders(blank_warehouse, path, Restaurant("Price Test"), dayfirst=True)
    assert report.rejected == []
    rows = staged(blank_warehouse)
    assert [(s, u, n if n is None else float(n)) for s, _, u, n in rows] == [
        ("garlic-naan", 3, None),  # one of its lines had no usable price: unknown, not 2.95
        ("pilau-rice", 3, None),  # blank price: NULL, never 0.00
        ("plain-papadum", 1, 0.80),
    ]
    message = scalar(blank_warehouse, "select message from raw.load_batches where batch_id = %s",
                     (report.batch_id,))  # fmt: skip
    assert "2 lines had no usable price" in message


@pytest.fixture
def cli(warehouse, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", warehouse)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_a_file_that_loads_nothing_exits_non_zero(warehouse, cli, tmp_path):
    path = tmp_path / "nothing.csv"
    path.write_text(HEADER + "R0001,S0001,1900-01-01,5,,,false\nR0001,S0001,x,5,,,false\n")
    result = cli.invoke(app, ["import", "daily", str(path)])
    assert result.exit_code == 1
    assert "no line could be loaded" in result.output


def test_an_unexpected_error_is_a_failed_batch_and_one_line_not_a_traceback(
    warehouse, cli, tmp_path, monkeypatch
):
    loaded_before = scalar(warehouse, "select count(*) from raw.daily_sales")
    path = tmp_path / "fine.csv"
    path.write_text(HEADER + "R0001,S0001,2024-03-01,5,,,false\n")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("injected")

    monkeypatch.setattr("ingest.daily._validate", broken)
    result = cli.invoke(app, ["import", "daily", str(path)])
    assert result.exit_code == 2
    assert "unexpected error while importing: ZeroDivisionError: injected" in result.output
    assert "Traceback" not in result.output
    status, message = query(
        warehouse,
        "select status, message from raw.load_batches order by batch_id desc limit 1",
    )[0]
    assert status == "failed" and str(path) in message
    assert scalar(warehouse, "select count(*) from raw.daily_sales") == loaded_before


def test_stored_rejections_are_capped_and_all_are_counted(warehouse, tmp_path):
    # GIVEN a file of one good line and 10,050 bad ones
    path = tmp_path / "mostly_bad.csv"
    path.write_text(
        HEADER + "R0001,S0001,2024-03-01,5,,,false\n" + "R0001,S0001,x,5,,,false\n" * 10_050
    )
    report = import_daily(warehouse, path)
    # THEN every rejection is counted, the first REJECTIONS_KEPT are stored, the message says so
    assert (report.rows_loaded, report.n_rejected, len(report.rejected)) == (1, 10_050, 10_000)
    batch = query(
        warehouse,
        "select rows_rejected, message, (select count(*) from raw.rejected_rows r"
        " where r.batch_id = b.batch_id) from raw.load_batches b where batch_id = %s",
        (report.batch_id,),
    )[0]
    assert batch[0] == 10_050 and batch[2] == 10_000
    assert "10,050 lines rejected (unparseable 10,050); the first 10,000 are stored" in batch[1]
