"""Planners' events and the holiday calendar as features of the global models.

An event imported with ``frycast import calendar`` reaches the panel through dbt; a global model
that has seen event days sell more forecasts more on a future event day and nothing else moves;
a backtest fold does not see an event entered after its origin (``known_since``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from ingest.generator import ChainSpec
from ingest.seed import seed
from ingest.user_calendar import import_calendar
from ml.backtest import Fold, run_backtest
from ml.models import build_model
from ml.panel import Panel, event_proximity
from tests.conftest import _clone, _drop, _with_db
from warehouse.dbt import run_dbt
from warehouse.panel_io import load_panel

HORIZON = 90
EVENT_H = 40  # a future event 40 days out: its 30-day neighbourhood lies wholly ahead


def with_events(panel: Panel, days: list[int], late: list[int] = (), known_from: int = 0) -> Panel:
    """``panel`` with an event on ``days`` for every series, always known, and on ``late``
    days known from day ``known_from`` on."""
    is_event = np.zeros((panel.n_series, len(panel.all_dates)), dtype=np.float32)
    is_event[:, [*days, *late]] = 1.0
    layers = ()
    if late:
        layer = np.zeros_like(is_event)
        layer[:, late] = 1.0
        layers = ((known_from, sparse.csr_matrix(layer)),)
    known = {**panel.known, "is_event": is_event, **event_proximity(is_event)}
    return replace(panel, known=known, event_layers=layers)


@pytest.fixture(scope="module")
def eventful(tiny_panel) -> tuple[Panel, list[int]]:
    """The tiny panel where 30 past event days (every 23rd day) sold three times the usual."""
    n = len(tiny_panel.dates)
    past = list(range(100, n - 60, 23))[:30]
    y = tiny_panel.y.copy()
    y[:, past] *= 3
    return replace(tiny_panel, y=y), past


def _lightgbm_forecast(panel: Panel) -> np.ndarray:
    return (
        build_model("lightgbm", max_horizon=HORIZON, n_jobs=1, seed=1).fit(panel).predict(HORIZON)
    )


def test_an_event_raises_the_forecast_on_its_day_and_moves_nothing_far_from_it(eventful):
    panel, past = eventful
    n = len(panel.dates)
    without = _lightgbm_forecast(with_events(panel, past))
    with_future = _lightgbm_forecast(with_events(panel, [*past, n - 1 + EVENT_H]))
    day = EVENT_H - 1
    # the model learnt that event days sell more: the event day rises well above the plain one
    assert with_future[:, day].sum() > 1.5 * without[:, day].sum()
    # days more than 30 days from any event have identical features and the same training rows
    far = [i for i in range(HORIZON) if abs(i - day) > 30]
    np.testing.assert_array_equal(with_future[:, far], without[:, far])


def test_prophet_takes_events_as_a_holiday(eventful):
    panel, past = eventful
    panel = panel.select(np.arange(2))
    n = len(panel.dates)

    def forecast(p: Panel) -> np.ndarray:
        return build_model("prophet", n_jobs=1, seed=1).fit(p).predict(HORIZON)

    without = forecast(with_events(panel, past))
    with_future = forecast(with_events(panel, [*past, n - 1 + EVENT_H]))
    day = EVENT_H - 1
    assert (with_future[:, day] > 2 * without[:, day]).all()  # event days sold 3×
    assert np.allclose(np.delete(with_future, day, 1), np.delete(without, day, 1), atol=1e-6)


def test_a_fold_does_not_see_an_event_entered_after_its_origin(eventful):
    panel, past = eventful
    origin, h = len(panel.dates) - 1 - HORIZON, 56
    event_day = origin + 20

    def fold_forecast(p: Panel) -> np.ndarray:
        make = lambda name: build_model("lightgbm", max_horizon=h, n_jobs=1, seed=1)  # noqa: E731
        return run_backtest(p, make, ["m"], [Fold(0, origin, h)]).predictions["m"][0]

    plain = fold_forecast(with_events(panel, past))
    # entered (known_since) the day after the origin: the fold must forecast as if it were absent
    late = with_events(panel, past, [event_day], known_from=origin + 1)
    np.testing.assert_array_equal(fold_forecast(late), plain)
    # known at the origin, the same event does move the fold's forecast (the check can fail)
    early = with_events(panel, past, [event_day], known_from=origin)
    assert not np.array_equal(fold_forecast(early), plain)


# --- through the warehouse -----------------------------------------------------------------------

CALENDAR = """date,name,kind,region,restaurant_id,effect,known_since
2025-01-18,Cup Final,event,{region},,,
2025-02-20,Store Party,event,,R0002,,2025-02-01
"""


@pytest.fixture(scope="module")
def warehouse(server_url: str, template_db: str):
    name = _clone(server_url, template_db, "frycast_events")
    url = _with_db(server_url, name)
    seed(url, ChainSpec(restaurants=2, skus=2, days=600, start=date(2023, 9, 1), seed=3))
    yield url
    _drop(server_url, name)


def test_imported_events_and_aligned_holidays_reach_the_panel(warehouse, tmp_path: Path):
    import psycopg

    with psycopg.connect(warehouse) as conn:
        region = conn.execute(
            "select region from raw.restaurants where restaurant_id = 'R0001'"
        ).fetchone()[0]
    path = tmp_path / "calendar.csv"
    path.write_text(CALENDAR.format(region=region))
    assert import_calendar(warehouse, path).rows_loaded == 2
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], warehouse)
    assert result.success, "\n".join(result.failures)

    panel = load_panel(warehouse, horizon=60)
    day = {d.date(): i for i, d in enumerate(panel.all_dates)}
    rows = panel.series["restaurant_id"].to_numpy()
    in_region = (panel.series["region"] == region).to_numpy()
    cup, party = day[date(2025, 1, 18)], day[date(2025, 2, 20)]
    ev = panel.known["is_event"]
    # a region's event is on each of its restaurants' series; a restaurant's on its own only
    assert (ev[in_region, cup] == 1).all() and (ev[~in_region, cup] == 0).all()
    assert (ev[rows == "R0002", party] == 1).all() and (ev[rows != "R0002", party] == 0).all()
    assert ev.sum() == in_region.sum() + (rows == "R0002").sum()
    assert (panel.known["days_to_next_event"][rows == "R0002", party - 5] == 5).all()
    # known since 1 February: a fold cut on 31 January has no party, one cut on 1 February has
    known_from = day[date(2025, 2, 1)]
    assert panel.truncate(known_from - 1).known["is_event"][:, party].sum() == 0
    assert panel.truncate(known_from).known["is_event"][:, party].sum() == (rows == "R0002").sum()
    assert (panel.truncate(known_from - 1).known["is_event"][:, cup] == ev[:, cup]).all()

    # Good Friday 2025 (18 April) looks back to Good Friday 2024 (29 March): 385 days, and so
    # does the Saturday after it; an ordinary day in June has no aligned holiday
    back = panel.known["holiday_days_back"][0]
    assert back[day[date(2025, 4, 18)]] == 385
    assert back[day[date(2025, 4, 19)]] == 385
    assert np.isnan(back[day[date(2025, 6, 11)]])
