"""LSTM and TFT (ml.models.neural): bounded, seeded training on a real panel, honest failures,
and the same backtest, selection and calibration as every other model.

All but the first test need the neural extra (``make test-neural``); the first runs in the
default, torch-free environment and proves it stays so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from ml.engine import EngineConfig, run_engine
from ml.models import NEURAL_MODELS, NeuralExtraMissing, build_model, check_models
from tests.ml.neural import FAST


def test_the_default_install_has_no_torch_and_says_how_to_get_the_neural_models():
    # the default environment (make setup, make demo, the first pass of make test) is torch-free
    assert importlib.util.find_spec("torch") is None, (
        "torch is installed in the default environment: `uv sync --frozen` (make setup) "
        "removes the neural extra; make test does this before its first pass"
    )
    with pytest.raises(NeuralExtraMissing, match="make setup-neural"):
        check_models(["snaive", "lstm", "tft"])
    with pytest.raises(NeuralExtraMissing, match="lstm needs the optional neural extra"):
        build_model("lstm")
    # the CLI says it in one line before any work starts, with no traceback
    from cli.main import app

    done = CliRunner().invoke(app, ["forecast", "--models", "snaive,tft"])
    assert done.exit_code == 2
    assert "error: tft needs the optional neural extra" in done.output
    assert "Traceback" not in done.output


def _fit(name, panel, h=28, **budget):
    return build_model(name, max_horizon=h, n_jobs=1, seed=3, params={**FAST, **budget}).fit(panel)


@pytest.mark.neural
@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_training_is_seeded_and_deterministic_on_cpu(tiny_panel, name):
    a = _fit(name, tiny_panel).predict(28)
    b = _fit(name, tiny_panel).predict(28)
    np.testing.assert_array_equal(a, b)
    other = build_model(name, max_horizon=28, n_jobs=1, seed=4, params=FAST).fit(tiny_panel)
    assert not np.array_equal(a, other.predict(28))  # the seed is what fixes it


@pytest.mark.neural
@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_training_stops_at_its_step_budget_and_its_time_limit(tiny_panel, name):
    steps = _fit(name, tiny_panel, max_steps=12, val_every=4, patience=100)
    log = steps.training_log
    assert (log["steps"], log["stopped_by"]) == (12, "step budget")
    assert log["fit_seconds"] > 0 and log["val_loss"] is not None and log["n_parameters"] > 0
    # a limit of 0.6 s stops a fit that the step budget would let run for minutes
    timed = _fit(name, tiny_panel, max_steps=100_000, val_every=5, patience=100, max_minutes=0.01)
    assert timed.training_log["stopped_by"] == "time limit"
    assert timed.training_log["steps"] < 100_000
    assert np.isfinite(timed.predict(28)).all()


@pytest.mark.neural
@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_a_whole_year_is_forecast_in_one_pass(tiny_panel, name):
    model = _fit(name, tiny_panel, h=365, max_steps=6, val_every=3)
    pred = model.predict(365)
    assert pred.shape == (tiny_panel.n_series, 365) and np.isfinite(pred).all()
    assert (pred >= 0).all()
    # the point is the negative binomial's mean; its quantiles are kept beside it: whole units,
    # ordered, and the mean of a count sits between its 10 % quantile and its 90 % one + 1 unit
    # where the count is not mostly zeros
    q = model.quantiles_
    assert q.shape == (tiny_panel.n_series, 365, 3)
    assert (np.diff(q, axis=-1) >= 0).all() and (q == np.round(q)).all()
    busy = q[..., 0] > 0
    assert busy.any()
    assert (pred[busy] >= q[..., 0][busy]).all() and (pred[busy] <= q[..., 2][busy] + 1).all()


@pytest.mark.neural
@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_series_too_young_for_the_encoder_are_counted_failures_not_numbers(tiny_panel, name):
    # two items launched 5 days before the origin: fewer days than the encoder's minimum (14)
    y = tiny_panel.y.copy()
    y[[1, 6], :-5] = np.nan
    model = _fit(name, replace(tiny_panel, y=y))
    pred = model.predict(28)
    assert np.isnan(pred[[1, 6]]).all()
    assert np.isfinite(np.delete(pred, [1, 6], axis=0)).all()
    assert model.failures == {"fewer days of history than the encoder needs": 2}


@pytest.mark.neural
def test_series_not_yet_on_sale_at_the_origin_are_no_history_not_the_networks_failure(tiny_panel):
    # the engine does not hold "no history" against a model; counting such series as the
    # network's failures excluded LSTM and TFT from London's 365-day backtest (its items come
    # and go) in the first accuracy bench
    y = tiny_panel.y.copy()
    y[[2, 4]] = np.nan
    y[2, -3:] = 5.0  # on sale for 3 days: too short for the encoder
    model = _fit("lstm", replace(tiny_panel, y=y))
    pred = model.predict(28)
    assert np.isnan(pred[[2, 4]]).all()
    assert model.failures == {"no history": 1, "fewer days of history than the encoder needs": 1}


@pytest.mark.neural
def test_a_history_too_short_to_train_on_fails_every_series(tiny_panel):
    short = tiny_panel.truncate(10)
    model = _fit("tft", short)
    assert np.isnan(model.predict(28)).all()
    assert sum(model.failures.values()) == tiny_panel.n_series


@pytest.mark.neural
def test_lstm_and_tft_compete_in_the_same_backtest_selection_and_calibration(tiny_panel):
    config = EngineConfig(
        horizon=28,
        folds=2,
        fold_horizon=28,
        fold_step=28,
        models=("snaive", "lightgbm", "lstm", "tft"),
        n_jobs=1,
        drivers=False,
        model_params={m: FAST for m in NEURAL_MODELS},
    )
    result = run_engine(tiny_panel, config)
    # backtested on every fold like the others, and scored on the same days
    for name in NEURAL_MODELS:
        pred = result.backtest.predictions[name]
        assert pred.shape == result.backtest.predictions["snaive"].shape
        assert np.isfinite(pred).all()
        scored = result.metrics[(result.metrics["model"] == name)]
        assert set(scored["fold"]) == {0, 1} and scored["mase"].notna().any()
        # bands from the same conformal calibration as every model
        assert name in result.calibrations
        per = result.summary["per_model"][name]
        assert 0 <= per["coverage_80"] <= 1 and per["wql"] > 0
        # each fit's cost is recorded: one per fold, and the final fit's where it serves
        backtest_fits = result.summary["training"][name]["backtest"]
        assert [f["fold"] for f in backtest_fits] == [0, 1]
        assert all(f["fit_seconds"] > 0 and f["steps"] > 0 for f in backtest_fits)
    # chosen only where it wins: each segment's model has the lowest MASE there of the
    # candidates (the selection's own record), a neural model included or not
    chosen = set(result.selection["model"])
    assert chosen <= {"snaive", "lightgbm", "lstm", "tft", "combo", "launch_curve"}
    scores = result.selection.attrs["panel_scores"]
    assert set(NEURAL_MODELS) <= set(scores)
    served = result.forecasts
    assert np.isfinite(served["yhat"]).all() and (served["yhat_lo80"] <= served["yhat_hi80"]).all()


@pytest.mark.neural
def test_a_run_with_the_networks_writes_their_scores_and_registers_the_winner(
    tiny_warehouse, tmp_path
):
    from flows.forecast import run_forecast
    from frycast.settings import Settings
    from tests.conftest import query

    # GIVEN the tiny warehouse, a small training budget and MLflow's artifacts in a temp folder
    settings = Settings(
        FRYCAST_MLFLOW_ARTIFACTS=tmp_path.as_uri(),
        FRYCAST_N_JOBS=1,
        FRYCAST_NEURAL_MAX_STEPS=20,
        FRYCAST_NEURAL_HIDDEN_SIZE=8,
    )
    # WHEN a run backtests and forecasts with the networks as its only global models
    report = run_forecast(
        tiny_warehouse,
        settings,
        track=True,
        reconciler="mint_shrink",
        horizon=28,
        folds=2,
        fold_horizon=28,
        fold_step=28,
        models=("snaive", "lstm", "tft"),
    )
    # THEN both were backtested at the bottom and at every aggregate level
    levels = dict(
        query(
            tiny_warehouse,
            """select model, count(distinct level) from forecast.backtest_metrics
                where run_id = %s and model in ('lstm', 'tft') group by model""",
            (report.run_id,),
        )
    )
    assert levels == {"lstm": 7, "tft": 7}
    # each network fit's cost is in MLflow (fold by fold) and the better one is registered
    keys = {
        k
        for (k,) in query(
            tiny_warehouse,
            "select key from mlflow.metrics where run_uuid = %s",
            (report.mlflow_run_id,),
        )
    }
    for name in NEURAL_MODELS:
        assert {f"{name}.backtest.fold0.fit_seconds", f"{name}.backtest.fold1.steps"} <= keys
        # and the aggregate levels' own fits (a hierarchical run trains them apart)
        assert f"aggregate.{name}.backtest.fold0.fit_seconds" in keys
    # (a final fit only for a network some node uses, and the best global model)
    assert any(k.startswith("aggregate.") and ".final.final0." in k for k in keys)
    assert report.model_version
    tag = query(
        tiny_warehouse,
        """select value from mlflow.model_version_tags
            where name = 'frycast-global-model' and version = %s and key = 'model'""",
        (int(report.model_version),),
    )
    per_model = report.summary["per_model"]
    assert tag == [(min(NEURAL_MODELS, key=lambda m: per_model[m]["mase"]),)]
    assert list(tmp_path.rglob("MLmodel"))
