"""The published Australian tourism experiment (FPP3 Table 11.2, Nixtla's statsforecast
reproduction), rerun end to end: ETS base forecasts, then bottom-up, OLS and MinT-shrink."""

from __future__ import annotations

from pathlib import Path

from ml.reconcile.tourism import published, run

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "au_tourism"


def test_mase_per_level_matches_the_published_table():
    got = run(DATA / "tourism.csv")
    want = published(DATA / "published_results_nixtla_statsforecast_reproduction.csv")
    gap = (got - want).abs()
    assert gap.max().max() <= 0.03, f"\n{got.round(3)}\n{want}\n{gap.round(3)}"
    # and what reconciliation is for: MinT-shrink beats the base forecasts overall
    assert got.loc["Overall", "MinT-shrink"] < got.loc["Overall", "Base"]
