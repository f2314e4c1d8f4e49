"""`frycast forecast` against a real warehouse: forecast tables by COPY, MLflow in Postgres."""

from __future__ import annotations

import pytest

from flows.forecast import run_forecast
from frycast.dbt import run_dbt
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
        """select reconciled, count(*), count(distinct node_key), count(distinct forecast_date),
                  count(*) filter (where yhat_lo80 is null or yhat_hi80 is null),
                  count(*) filter (where not (yhat_lo80 <= yhat_q50 and yhat_q50 <= yhat_hi80)),
                  count(*) filter (where yhat < 0)
             from forecast.forecast_values
            where run_id = %s and level = 'restaurant_sku'
            group by reconciled order by reconciled""",
        (report.run_id,),
    )
    # the base forecasts and the reconciled ones, for every series and day
    assert rows == [(False, n_series * 365, n_series, 365, 0, 0, 0), (True,) + rows[0][1:]]
    status, end = query(
        tiny_warehouse,
        "select status, history_end from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )[0]
    assert status == "succeeded"
    assert end == scalar(tiny_warehouse, "select max(sale_date) from marts.fct_daily_sales")


def test_every_level_is_forecast_and_the_reconciled_ones_add_up(tiny_warehouse, report):
    levels = dict(
        query(
            tiny_warehouse,
            """select level, count(distinct node_key) from forecast.forecast_values
                where run_id = %s and reconciled group by level""",
            (report.run_id,),
        )
    )
    # 2 restaurants in 2 regions (the tiny chain), their SKUs and product groups
    n_restaurants, n_skus, n_groups = query(
        tiny_warehouse,
        """select count(distinct restaurant_id), count(distinct sku_id),
                  count(distinct product_group)
             from features.feat_series where is_active""",
    )[0]
    assert levels["chain"] == 1
    assert levels["restaurant"] == n_restaurants
    assert levels["sku"] == n_skus
    assert levels["product_group"] == n_groups
    assert set(levels) == {
        "chain",
        "region",
        "restaurant",
        "product_group",
        "sku",
        "restaurant_product_group",
        "restaurant_sku",
    }
    # the chain total is the sum of the bottom, day by day (the dbt test checks every node)
    gap = scalar(
        tiny_warehouse,
        """select max(abs(c.yhat - b.total) / greatest(b.total, 1))
             from forecast.forecast_values c
             join (select forecast_date, sum(yhat) as total from forecast.forecast_values
                    where run_id = %s and reconciled and level = 'restaurant_sku'
                    group by forecast_date) b using (forecast_date)
            where c.run_id = %s and c.reconciled and c.level = 'chain'""",
        (report.run_id, report.run_id),
    )
    assert gap < 1e-9
    assert run_dbt(
        ["test", "--select", "assert_reconciled_forecasts_add_up"], tiny_warehouse
    ).success
    assert report.reconciliation["reconciler"] == "mint_shrink"
    assert report.reconciliation["coherence_error"] < 1e-9


def test_backtests_and_selection_are_stored(tiny_warehouse, report):
    assert (
        scalar(
            tiny_warehouse,
            """select count(distinct model) from forecast.backtest_metrics
                where run_id = %s and level = 'restaurant_sku'""",
            (report.run_id,),
        )
        == 5  # 3 models, the selected base forecast and the reconciled one
    )
    assert (
        scalar(
            tiny_warehouse,
            """select count(*) from forecast.model_selection
                where run_id = %s and level = 'restaurant_sku' and reason <> ''""",
            (report.run_id,),
        )
        == report.n_series
    )
    # base and reconciled backtest scores for every level, to compare
    chain_models = query(
        tiny_warehouse,
        """select distinct model from forecast.backtest_metrics
            where run_id = %s and level = 'chain'""",
        (report.run_id,),
    )
    assert {"selected", "mint_shrink", "lightgbm"} <= {m for (m,) in chain_models}


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


def test_tracking_leaves_the_users_mlflow_environment_alone(tiny_warehouse, tmp_path, monkeypatch):
    # MLflow exports the URI it is given; frycast's settings read MLFLOW_TRACKING_URI as the
    # user's choice, so a second warehouse in the same process used to track into the first
    import os

    from ml.tracking import Tracker, warehouse_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    Tracker(warehouse_tracking_uri(tiny_warehouse), "frycast-env-test", tmp_path.as_uri())
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert Settings().mlflow_tracking_uri is None
