"""The analysts' SQL examples work: every ```sql block of docs/sql_examples.md and README.md runs
on a built warehouse with a published run, as the read-only role `frycast_reader` in a read-only
transaction, and returns rows."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.pipeline import forecast_pipeline
from ingest.daily import import_daily
from ingest.seed import seed
from tests.conftest import _clone, _drop, _with_db, query
from tests.ml.conftest import TINY
from warehouse.db import reader_url
from warehouse.dbt import run_dbt

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "sql_examples.md"
FILES = [EXAMPLES, ROOT / "README.md"]
# the cheapest run that publishes (no gradient boosting: slow on a busy machine); 3 folds, so
# the out-of-sample fold 0 is scored with choices from two earlier folds, not one
CHEAP = {"folds": 3, "fold_horizon": 28, "models": ["snaive", "weekday_mean"]}
BLOCK = re.compile(r"^```sql[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
NEW_DAYS = 14  # actuals that "arrive" after the published run's origin


def sql_blocks(path: Path) -> list[tuple[str, str]]:
    """(id, sql) of every ```sql block in a Markdown file; the id names the file and line."""
    if not path.exists():
        return []
    text = path.read_text()
    return [
        (f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1))
        for m in BLOCK.finditer(text)
    ]


BLOCKS = [block for path in FILES for block in sql_blocks(path)]


@pytest.fixture(scope="module")
def warehouse(server_url, template_db, tmp_path_factory):
    """A seeded warehouse with a published run (the cheap pipeline of the flow tests) and two
    weeks of actuals loaded after its origin, so the forecast-vs-actual mart has rows."""
    name = _clone(server_url, template_db, "frycast_sqlex")
    url = _with_db(server_url, name)
    env = {
        "FRYCAST_MLFLOW_ARTIFACTS": tmp_path_factory.mktemp("mlartifacts").as_uri(),
        "FRYCAST_SNAPSHOTS": "off",
    }
    from frycast.settings import get_settings, kept_environ

    with kept_environ(env, env):
        get_settings.cache_clear()
        try:
            seed(url, TINY)
            with prefect_test_harness(server_startup_timeout=120):
                assert forecast_pipeline(url=url, **CHEAP)["published"]
            _new_actuals(url, tmp_path_factory.mktemp("actuals") / "new_days.csv")
            yield url
        finally:
            get_settings.cache_clear()
            _drop(server_url, name)


def _new_actuals(url: str, path: Path) -> None:
    """Sales for the first NEW_DAYS forecast days (a Poisson draw around the forecast), loaded and
    built like a nightly import."""
    end = query(url, "select max(history_end) from forecast.forecast_runs where published")[0][0]
    rows = query(
        url,
        """select restaurant_id, sku_id, forecast_date, yhat from marts.fct_forecast
            where level = 'restaurant_sku' and forecast_date <= %s order by 1, 2, 3""",
        (end + timedelta(days=NEW_DAYS),),
    )
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["restaurant_id", "sku_id", "sale_date", "units"])
        for restaurant, sku, day, yhat in rows:
            w.writerow([restaurant, sku, day.isoformat(), int(rng.poisson(yhat))])
    import_daily(url, path)
    # every model: rebuilding the sales tables drops the forecast-mart views that read them
    result = run_dbt(["run"], url)
    assert result.success, "\n".join(result.failures)


def run_as_reader(url: str, sql: str) -> tuple[str, list[tuple]]:
    """Run ``sql`` logged in as frycast_reader, as an analyst would; (role, rows), rolled back."""
    with psycopg.connect(reader_url(url)) as conn:
        role = conn.execute("select session_user").fetchone()[0]
        rows = conn.execute(sql).fetchall()
        conn.rollback()
    return role, rows


def test_the_examples_file_has_at_least_five_queries_each_with_a_heading():
    text = EXAMPLES.read_text()
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 5
    for m in blocks:
        before = [line for line in text[: m.start()].splitlines() if line.strip()]
        heading = next(line for line in reversed(before) if line.startswith("#"))
        assert len(heading.lstrip("# ").strip()) > 10, "every query says what it gives"


@pytest.mark.parametrize(("where", "sql"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_the_example_runs_read_only_and_returns_rows(warehouse, where, sql):
    role, rows = run_as_reader(warehouse, sql)
    assert role == "frycast_reader"
    assert len(rows) >= 1, f"{where} returned no rows"


def test_the_reader_cannot_write(warehouse):
    # the login's sessions start read-only...
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        run_as_reader(warehouse, "delete from forecast.forecast_runs returning run_id")
    # ...and without that, it holds no right to write
    with (
        psycopg.connect(reader_url(warehouse), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("set default_transaction_read_only = off")
        conn.execute("delete from forecast.forecast_runs returning run_id")
