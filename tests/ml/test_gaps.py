"""A stale restaurant forecast from the common origin (FRYCAST_STALE_RESTAURANTS=forecast): its
missing days bridged, never scored, and flagged in the marts; by default it is left out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest

from flows.forecast import run_forecast
from frycast.settings import Settings
from ingest.generator import ChainSpec
from ingest.seed import seed
from ml.gaps import bridge_gaps
from tests.conftest import query, scalar
from tests.ml.synthetic import panel_of
from warehouse.dbt import run_dbt

SPEC = ChainSpec(restaurants=2, skus=3, days=500, start=date(2024, 1, 1), seed=11)
CUT = 40  # R0002's data is cut 40 days before the end (its last reported day may be earlier)
CLOSED_AHEAD = 5  # days after the origin R0001 is closed (scheduled)
CHEAP = dict(horizon=28, folds=2, fold_horizon=28, fold_step=28, models=("snaive", "lightgbm"))


def test_bridged_days_are_the_weekday_means_and_closed_weekdays_stay_closed():
    # 8 weeks at 10 a day, Sundays closed, then 20 unreported days
    days = 56 + 20
    y = np.full((1, days), 10.0)
    panel = panel_of(y, start="2024-01-01", horizon=7)  # a Monday
    dow = np.asarray(panel.all_dates.dayofweek)
    open_ = np.where(dow == 6, 0, 1).astype(np.int8)[None, :]
    open_[:, 56:] = -1
    y[:, 56:] = np.nan
    y[:, (dow[:days] == 6)] = np.nan
    panel = replace(panel, y=y, open=open_)
    out = bridge_gaps(panel, {"R0001": panel.dates[55].date()})
    gap_dow = dow[56:days]
    np.testing.assert_array_equal(out.y[0, 56:][gap_dow != 6], 10.0)
    assert np.isnan(out.y[0, 56:][gap_dow == 6]).all()  # its closing day stays closed
    assert (out.open[0, 56:days][gap_dow == 6] == 0).all()
    assert (out.open[0, 56:days][gap_dow != 6] == 1).all()
    assert out.imputed[0, 56:].sum() == (gap_dow != 6).sum() and not out.imputed[0, :56].any()
    # a backtest window over the bridged days scores nothing there
    assert np.isnan(out.truncate(days - 1).y).sum() == np.isnan(y).sum() - out.imputed.sum()


@pytest.fixture(scope="module")
def stale_warehouse(module_warehouse) -> str:
    seed(module_warehouse, SPEC)
    with psycopg.connect(module_warehouse) as conn:
        conn.execute(
            "delete from raw.daily_sales where restaurant_id = 'R0002' and sale_date > %s",
            (SPEC.end - timedelta(days=CUT),),
        )
        # and R0001 will close for a day in the forecast's first week (known ahead)
        conn.execute(
            "insert into raw.restaurant_closures (restaurant_id, closed_from, closed_to, reason)"
            " values ('R0001', %s, %s, 'stocktake')",
            (SPEC.end + timedelta(days=CLOSED_AHEAD),) * 2,
        )
    result = run_dbt(["build", "--full-refresh", "--exclude", "test_type:data"], module_warehouse)
    assert result.success, "\n".join(result.failures)
    return module_warehouse


def _last_day(url: str, restaurant: str) -> date:
    return scalar(
        url, "select max(last_day) from features.feat_series where restaurant_id = %s",
        (restaurant,),
    )  # fmt: skip


def test_by_default_a_stale_restaurant_is_left_out(stale_warehouse):
    assert _last_day(stale_warehouse, "R0001") == SPEC.end
    report = run_forecast(stale_warehouse, Settings(FRYCAST_N_JOBS=1), track=False, **CHEAP)
    assert report.skipped == {"R0002": _last_day(stale_warehouse, "R0002")}
    keys = query(
        stale_warehouse,
        "select distinct restaurant_id from forecast.forecast_values where run_id = %s"
        " and level = 'restaurant_sku'",
        (report.run_id,),
    )
    assert keys == [("R0001",)]


def test_a_stale_restaurant_asked_for_alone_is_forecast_from_its_own_last_day(stale_warehouse):
    # WHEN the stale restaurant is forecast alone (`frycast forecast --restaurant R0002`, what
    # `make demo` does with the London data)
    report = run_forecast(
        stale_warehouse, Settings(FRYCAST_N_JOBS=1), restaurants=["R0002"], track=False, **CHEAP
    )
    last = _last_day(stale_warehouse, "R0002")
    # THEN its forecast starts the day after its own last day, and the run says so
    days = query(
        stale_warehouse,
        "select distinct restaurant_id, min(forecast_date) from forecast.forecast_values"
        " where run_id = %s and level = 'restaurant_sku' group by 1",
        (report.run_id,),
    )
    assert days == [("R0002", last + timedelta(days=1))]
    end, config, message = query(
        stale_warehouse,
        "select history_end, config, message from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )[0]
    assert end == last and config["restaurants"] == ["R0002"]
    assert message == f"R0002 alone, forecast from their own last day, {last}"


def test_a_stale_restaurant_can_be_forecast_from_the_common_origin(stale_warehouse):
    settings = Settings(FRYCAST_N_JOBS=1, FRYCAST_STALE_RESTAURANTS="forecast")
    report = run_forecast(stale_warehouse, settings, track=False, reconciler="bottom_up", **CHEAP)
    last = _last_day(stale_warehouse, "R0002")
    gap = (SPEC.end - last).days
    assert gap >= CUT
    assert report.skipped == {}
    config = scalar(
        stale_warehouse, "select config from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )  # fmt: skip
    assert config["bridged_restaurants"] == {"R0002": str(last)}
    assert config["stale_restaurants"] == {}
    # every series of both restaurants forecast from the common origin
    rows = query(
        stale_warehouse,
        "select restaurant_id, min(forecast_date), max(forecast_date), count(distinct sku_id)"
        " from forecast.forecast_values where run_id = %s and level = 'restaurant_sku'"
        " and not reconciled group by restaurant_id order by restaurant_id",
        (report.run_id,),
    )
    start, stop = SPEC.end + timedelta(days=1), SPEC.end + timedelta(days=28)
    assert [r[:3] for r in rows] == [("R0001", start, stop), ("R0002", start, stop)]
    # the bridged days are no backtest's actuals: R0002's last fold (all of it bridged) is unscored
    scored = query(
        stale_warehouse,
        "select fold, max(n_obs) from forecast.backtest_metrics where run_id = %s"
        " and level = 'restaurant_sku' and node_key like 'R0002/%%' group by fold order by fold",
        (report.run_id,),
    )
    assert dict(scored).get(0, 0) == 0 and dict(scored)[1] > 0
    # the marts flag the gap on R0002's rows only
    publish = "update forecast.forecast_runs set published = true, published_at = now()"
    with psycopg.connect(stale_warehouse) as conn:
        conn.execute(publish + " where run_id = %s", (report.run_id,))
    assert run_dbt(["run", "--select", "fct_forecast"], stale_warehouse).success
    flagged = query(
        stale_warehouse,
        "select level, restaurant_id, data_ends_on, history_gap_days, count(*)"
        " from marts.fct_forecast where data_ends_on is not null"
        " group by 1, 2, 3, 4 order by 1",
    )
    assert {(lvl, r, d, g) for lvl, r, d, g, _ in flagged} == {
        ("restaurant", "R0002", last, gap),
        ("restaurant_product_group", "R0002", last, gap),
        ("restaurant_sku", "R0002", last, gap),
    }
    assert (
        scalar(
            stale_warehouse,
            "select count(*) from marts.fct_forecast where restaurant_id = 'R0001'"
            " and data_ends_on is not null",
        )
        == 0
    )
    # a bridged restaurant whose data would end after the run's history end is refused (the
    # gap is tested on the runs' config, not on every forecast row)
    check = ["test", "--select", "assert_bridged_data_ends_by_history_end"]
    assert run_dbt(check, stale_warehouse).success
    bridge = (
        "update forecast.forecast_runs set config = jsonb_set(config,"
        " '{bridged_restaurants,R0002}', to_jsonb((history_end + %s)::text)) where run_id = %s"
    )
    with psycopg.connect(stale_warehouse) as conn:
        conn.execute(bridge, (1, report.run_id))
    try:
        assert not run_dbt(check, stale_warehouse).success
    finally:
        with psycopg.connect(stale_warehouse) as conn:
            conn.execute(bridge, (-gap, report.run_id))
    assert run_dbt(check, stale_warehouse).success
    # the scheduled closure: 0 with a zero band and flagged, on that day only
    closed = query(
        stale_warehouse,
        "select forecast_date, bool_and(is_closed), max(yhat), max(yhat_hi80), count(*)"
        " from marts.fct_forecast where restaurant_id = 'R0001' and level = 'restaurant_sku'"
        " and is_closed group by 1",
    )
    assert [(d, c, y, hi) for d, c, y, hi, _ in closed] == [
        (SPEC.end + timedelta(days=CLOSED_AHEAD), True, 0.0, 0.0)
    ]
    assert (
        scalar(stale_warehouse, "select count(*) from marts.fct_forecast where is_closed is null")
        == 0
    )
