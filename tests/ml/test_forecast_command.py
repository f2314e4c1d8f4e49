"""`frycast forecast` against a real warehouse: forecast tables by COPY, MLflow in Postgres."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.forecast import run_forecast
from frycast.levels import LEVEL_NAMES
from frycast.settings import PROJECT_ROOT, Settings
from tests.conftest import query, scalar
from warehouse.dbt import run_dbt

MODELS = ("snaive", "weekday_mean", "lightgbm")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlartifacts")


@pytest.fixture(scope="module")
def report(tiny_warehouse, artifacts):
    # GIVEN the tiny warehouse and settings that keep MLflow's artifacts in a temporary folder
    settings = Settings(FRYCAST_MLFLOW_ARTIFACTS=artifacts.as_uri(), FRYCAST_N_JOBS=1)
    # WHEN a year is forecast with a cheap backtest, tracked and reconciled (with MinT-shrink
    # fixed: the default, auto, chooses per run; tests/ml/test_reconciler_choice.py)
    return run_forecast(
        tiny_warehouse,
        settings,
        track=True,
        reconciler="mint_shrink",
        horizon=365,
        folds=2,
        fold_horizon=28,
        fold_step=28,
        models=MODELS,
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
    status, end, state = query(
        tiny_warehouse,
        "select status, history_end, s.state from forecast.forecast_runs"
        " join forecast.run_states s using (run_id, status) where run_id = %s",
        (report.run_id,),
    )[0]
    assert status == state == "succeeded"  # its lease ended with it: finished, not dead
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
    assert set(levels) == set(LEVEL_NAMES)
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
        == 6  # 3 models, the new series' model, the selected base forecast and the reconciled one
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
    assert report.mlflow_run_id and report.model_version
    # the forecast run points at its MLflow run, which finished, and at the model it registered
    assert query(
        tiny_warehouse,
        "select mlflow_run_id, model_version from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    ) == [(report.mlflow_run_id, report.model_version)]
    run = query(
        tiny_warehouse,
        """select r.status, e.name
             from mlflow.runs r join mlflow.experiments e using (experiment_id)
            where r.run_uuid = %s""",
        (report.mlflow_run_id,),
    )
    assert run == [("FINISHED", "frycast-forecast")]
    params = dict(
        query(
            tiny_warehouse,
            "select key, value from mlflow.params where run_uuid = %s",
            (report.mlflow_run_id,),
        )
    )
    assert params["horizon"] == "365" and params["folds"] == "2"
    assert json.loads(params["models"]) == list(MODELS)
    assert params["n_series"] == str(report.n_series)
    # the backtest means MLflow holds are the ones forecast.backtest_metrics holds
    metrics = dict(
        query(
            tiny_warehouse,
            "select key, value from mlflow.metrics where run_uuid = %s",
            (report.mlflow_run_id,),
        )
    )
    for model in MODELS:
        stored = scalar(
            tiny_warehouse,
            """select avg(mase) from forecast.backtest_metrics
                where run_id = %s and level = 'restaurant_sku' and model = %s""",
            (report.run_id, model),
        )
        assert metrics[f"{model}.restaurant_sku.mase"] == pytest.approx(stored)
    assert any(k.startswith("lightgbm.importance.") for k in metrics)
    # the global model is registered from this run; no run was published, so no model is the
    # champion (the alias moves only when a run is published)
    versions = dict(
        query(
            tiny_warehouse,
            """select version, run_id from mlflow.model_versions
                where name = 'frycast-global-model'""",
        )
    )
    assert versions[int(report.model_version)] == report.mlflow_run_id
    alias = query(
        tiny_warehouse,
        "select name, version from mlflow.registered_model_aliases where alias = 'champion'",
    )
    assert alias == []


def test_mlflow_artifacts_go_where_the_settings_say(tiny_warehouse, report, artifacts):
    location = scalar(
        tiny_warehouse,
        "select artifact_location from mlflow.experiments where name = 'frycast-forecast'",
    )
    assert location == artifacts.as_uri()
    run_dir = artifacts / report.mlflow_run_id / "artifacts" / "engine"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["default_model"] == report.summary["default_model"]
    assert (run_dir / "model_selection.csv").read_text().count("\n") == report.n_series + 1
    assert list(artifacts.rglob("MLmodel"))  # the registered model's files


def test_the_cli_forecasts_the_tiny_warehouse(tiny_warehouse, report, artifacts):
    # GIVEN the warehouse that already holds the year-long run above
    frycast = Path(sys.executable).with_name("frycast")
    env = {
        **os.environ,
        "DATABASE_URL": tiny_warehouse,
        "FRYCAST_MLFLOW_ARTIFACTS": artifacts.as_uri(),
        "FRYCAST_N_JOBS": "1",
        "FRYCAST_FOLD_STEP": "28",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    # WHEN `frycast forecast` runs 4 weeks without reconciliation
    args = ["--horizon", "28", "--folds", "2", "--fold-horizon", "28", "--reconciler", "none"]
    done = subprocess.run(
        [str(frycast), "forecast", *args, "--models", ",".join(MODELS)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # THEN it succeeds and says which run it wrote
    assert done.returncode == 0, done.stderr[-3000:]
    match = re.search(r"forecast run (\d+): (\d+) series × 28 days", done.stdout)
    assert match, done.stdout
    run_id, n_series = int(match[1]), int(match[2])
    assert run_id != report.run_id and n_series == report.n_series
    status, horizon, mlflow_run, config = query(
        tiny_warehouse,
        """select status, horizon_days, mlflow_run_id, config from forecast.forecast_runs
            where run_id = %s""",
        (run_id,),
    )[0]
    assert (status, horizon, config["reconciler"]) == ("succeeded", 28, "none")
    # exactly one base forecast per series and day, with intervals
    rows = query(
        tiny_warehouse,
        """select level, reconciled, count(*), count(distinct forecast_date),
                  min(forecast_date) - 1,
                  count(*) filter (where yhat_lo80 is null or yhat_q50 is null
                                      or yhat_hi80 is null)
             from forecast.forecast_values where run_id = %s group by level, reconciled""",
        (run_id,),
    )
    end = scalar(tiny_warehouse, "select max(sale_date) from marts.fct_daily_sales")
    assert rows == [("restaurant_sku", False, n_series * 28, 28, end, 0)]
    assert scalar(
        tiny_warehouse,
        "select count(*) from forecast.backtest_metrics where run_id = %s and level = %s",
        (run_id, "restaurant_sku"),
    ) == n_series * 2 * (len(MODELS) + 2)  # the candidates, launch_curve and the served
    assert (
        scalar(
            tiny_warehouse,
            "select count(*) from forecast.model_selection where run_id = %s",
            (run_id,),
        )
        == n_series
    )
    # and it registered its model, which is not the champion: only a published run's is
    version = scalar(
        tiny_warehouse,
        "select version from mlflow.model_versions where name = 'frycast-global-model'"
        " and run_id = %s",
        (mlflow_run,),
    )
    assert version > int(report.model_version)
    assert f"model version {version}, not the champion" in done.stdout
    assert query(tiny_warehouse, "select 1 from mlflow.registered_model_aliases") == []


def test_tracking_leaves_the_users_mlflow_environment_alone(tiny_warehouse, tmp_path, monkeypatch):
    # MLflow exports the URI it is given; frycast's settings read MLFLOW_TRACKING_URI as the
    # user's choice, so a second warehouse in the same process used to track into the first
    import os

    from ml.tracking import Tracker, warehouse_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    Tracker(warehouse_tracking_uri(tiny_warehouse), "frycast-env-test", tmp_path.as_uri())
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert Settings().mlflow_tracking_uri is None


def test_the_reviewers_tools_read_a_real_run(tiny_warehouse, report):
    # every read-only tool the agents get works on a real run, as the read-only role
    from agents.tools import ALL_TOOLS, Context, call

    ctx = Context(tiny_warehouse, report.run_id)
    importances = json.loads(call(ALL_TOOLS["feature_importances"], ctx, {}))["importances"]
    assert importances, "the run's global models wrote their importances"
    for model, shares in importances.items():
        assert len(shares) > 5 and abs(sum(shares.values()) - 1) < 0.01, model
    board = json.loads(call(ALL_TOOLS["backtest_leaderboard"], ctx, {"level": "chain"}))
    assert {"mint_shrink", "selected"} <= {row[0] for row in board["rows"]}
    gap = json.loads(call(ALL_TOOLS["coherence"], ctx, {}))["rows"][0][0]
    assert float(gap) < 1e-9
    assert "rows" in json.loads(call(ALL_TOOLS["compare_with_previous"], ctx, {}))
    assert "rows" in json.loads(call(ALL_TOOLS["data_quality_results"], ctx, {}))


def test_the_run_record_says_what_it_could_not_do(tiny_warehouse, report):
    # the folds it used (all it asked for here) and every model's failed fits (none here)
    config = scalar(
        tiny_warehouse,
        "select config from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )
    assert config["folds_used"] == {"asked": 2, "used": 2, "step_days": 28, "why": None}
    assert config["fallbacks"] == {}


def test_the_reported_scores_are_out_of_sample_and_the_run_says_which_folds(tiny_warehouse, report):
    # the served construction ('selected', and the reconciler's rows) is scored on fold 0 with
    # choices learned from fold 1 only; fold 1 had nothing before it and is not scored
    rows = query(
        tiny_warehouse,
        """select model, fold, count(*), count(mase), count(coverage_80)
             from forecast.backtest_metrics
            where run_id = %s and model in ('selected', 'mint_shrink')
              and level = 'restaurant_sku'
            group by model, fold order by model, fold""",
        (report.run_id,),
    )
    n = report.n_series
    assert rows == [
        ("mint_shrink", 0, n, n, n),
        ("mint_shrink", 1, n, 0, 0),
        ("selected", 0, n, n, n),
        ("selected", 1, n, 0, 0),
    ]
    config = scalar(
        tiny_warehouse,
        "select config from forecast.forecast_runs where run_id = %s",
        (report.run_id,),
    )
    evaluation = config["evaluation"]
    assert evaluation["out_of_sample"] is True
    assert (evaluation["scored_folds"], evaluation["calibration_only_folds"]) == ([0], [1])
