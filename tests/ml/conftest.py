"""A tiny real warehouse for the forecasting tests: seeded, built by dbt, read back as a panel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ingest.generator import ChainSpec
from ingest.seed import seed
from ml.panel import Panel
from tests.conftest import _clone, _drop, _with_db
from warehouse.dbt import run_dbt
from warehouse.panel_io import load_panel

# 2 restaurants × 4 SKUs × 800 days: long enough for yearly models and a 365-day forecast
TINY = ChainSpec(restaurants=2, skus=4, days=800, start=date(2023, 10, 23), seed=5)


@pytest.fixture(scope="session")
def tiny_warehouse(server_url: str, template_db: str) -> Iterator[str]:
    name = _clone(server_url, template_db, "frycast_ml")
    url = _with_db(server_url, name)
    seed(url, TINY)
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], url)
    assert result.success, "\n".join(result.failures)
    yield url
    _drop(server_url, name)


@pytest.fixture(scope="session")
def tiny_panel(tiny_warehouse: str) -> Panel:
    return load_panel(tiny_warehouse, horizon=365)
