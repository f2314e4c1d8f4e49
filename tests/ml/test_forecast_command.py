"""`frycast forecast` against a real warehouse: forecast tables by COPY, MLflow in Postgres."""

from __future__ import annotations

import pytest

from flows.forecast import run_forecast
from frycast.settings import Settings
from tests.conftest import query, scalar


@pytest.fixture(scope="module")
def report(tiny_warehouse, tmp_path_factory):
    settings = Settings(
        FRYCAST_MLFLOW_ARTIFACTS=tmp_path_factory.mktemp("mlartifacts").as_uri(),
        FRYCAST_N_JOBS=1,
    )
    return run_forecast(
        tiny_warehouse,
        settings,
        horizon=365,
        folds=2,
        fold_horizon=28,
        fold_step=28,
        models=("snaive", "weekday_mean", "lightgbm"),
    )


def test_a_complete_year_for_every_series_with_intervals(tiny_warehouse, report):
    n_series = scalar(tiny_warehouse, "select count(*) from features.feat_series where is_active")
    assert report.n_series == n_series
    rows = query(
        tiny_warehouse,
        """select count(*), count(distinct node_key), count(distinct forecast_date),
                  count(*) filter (where yhat_lo80 is null or yhat_hi80 is null),
                  count(*) filter (where not (yhat_lo80 <= yhat_q50 and yhat_q50 <= yhat_hi80))
             from forecast.forecast_values where run_id = %s""",
        (report.run_id,),
    )
    assert rows == [(n_series * 365, n_series, 365, 0, 0)]
    status, end = query(
        tiny_warehouse,
        "select status, history_end from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )[0]
    assert status == "succeeded"
    assert end == scalar(tiny_warehouse, "select max(sale_date) from marts.fct_daily_sales")


def test_backtests_and_selection_are_stored(tiny_warehouse, report):
    assert (
        scalar(
            tiny_warehouse,
            "select count(distinct model) from forecast.backtest_metrics where run_id = %s",
            (report.run_id,),
        )
        == 3
    )
    assert (
        scalar(
            tiny_warehouse,
            "select count(*) from forecast.model_selection where run_id = %s and reason <> ''",
            (report.run_id,),
        )
        == report.n_series
    )


def test_mlflow_records_are_in_the_warehouse(tiny_warehouse, report):
    run = query(
        tiny_warehouse,
        "select status from mlflow.runs where run_uuid = %s",
        (report.mlflow_run_id,),
    )
    assert run == [("FINISHED",)]
    metrics = scalar(
        tiny_warehouse,
        "select count(*) from mlflow.metrics where run_uuid = %s and key like 'lightgbm.%%'",
        (report.mlflow_run_id,),
    )
    assert metrics > 5
    assert (
        scalar(
            tiny_warehouse,
            "select value from mlflow.params where run_uuid = %s and key = 'horizon'",
            (report.mlflow_run_id,),
        )
        == "365"
    )
    alias = query(
        tiny_warehouse,
        "select name, version from mlflow.registered_model_aliases where alias = 'champion'",
    )
    assert alias == [("frycast-global-model", int(report.champion_version))]
