"""Progress told while the engine works: stages as they start and end, fits as they finish."""

from __future__ import annotations

import re

import numpy as np

from frycast import progress
from frycast.stages import stage
from ml.engine import EngineConfig, run_engine
from tests.ml.synthetic import panel_of


def test_a_stage_says_when_it_starts_and_ends_and_nothing_after_a_failure():
    heard = []
    with progress.listening(lambda m, f: heard.append((m, f))):
        with stage("load panel"):
            pass
        try:
            with stage("write"):
                raise RuntimeError("disk full")
        except RuntimeError:
            pass
    assert heard == [("load panel …", None), ("load panel done in 0 s", None), ("write …", None)]
    with stage("unheard"):  # no listener: nothing said, nothing raised
        pass


def test_the_engine_counts_every_fit_of_the_backtest_and_the_final_forecast(monkeypatch):
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # say every fit, not every 5 s
    rng = np.random.default_rng(3)
    panel = panel_of(rng.poisson(20, size=(4, 140)), horizon=14)
    config = EngineConfig(
        horizon=14, folds=2, fold_horizon=14, models=("snaive", "weekday_mean"), n_jobs=1
    )
    heard = []
    with progress.listening(lambda m, f: heard.append((m, f))):
        result = run_engine(panel, config, level_metrics=False)
    assert result.forecasts is not None
    fits = [(m, f) for m, f in heard if "fits done" in m]
    backtest = [(m, f) for m, f in fits if m.startswith("backtest: ")]
    final = [(m, f) for m, f in fits if m.startswith("train + forecast 14 days: ")]
    # every (model, fold) fit of the backtest, then every final fit, each counted once, in order
    n = len(backtest)
    assert n >= 2 * 2 and len(fits) == n + len(final) and final
    assert [int(re.search(r": (\d+)/", m).group(1)) for m, _ in backtest] == list(range(1, n + 1))
    assert all(f"/{n} fits done" in m for m, _ in backtest)
    assert backtest[-1][1] == 1.0 and final[-1][1] == 1.0
    assert re.fullmatch(r"backtest: 1/\d+ fits done \(\w+, fold \d, 4 series\)", backtest[0][0])
    said = [m for m, _ in heard]
    assert said.index("backtest …") < said.index(backtest[0][0]) < said.index("train + forecast …")
