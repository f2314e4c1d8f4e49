"""`frycast bench peer` end to end on a small chain: both pipelines forecast the same held-out
days, every level of the hierarchy is scored for both, and the report says so."""

from __future__ import annotations

import math
from datetime import date

from bench import peer as bench_peer
from ingest.generator import ChainSpec
from tests.conftest import _drop

SMALL = ChainSpec(restaurants=3, skus=5, days=500, start=date(2024, 1, 1), seed=11)


def test_the_peer_benchmark_scores_both_pipelines_on_every_level(server_url):
    try:
        r = bench_peer.run(
            "test",
            server_url,
            holdout=28,
            models=("snaive", "weekday_mean", "lightgbm"),
            spec=SMALL,
        )
    finally:
        _drop(server_url, "frycast_bench_peer_test")
    levels = {"chain", "region", "restaurant", "product_group", "sku"}
    assert levels <= set(r.mase) and "mean over levels" in r.mase
    for level, scores in r.mase.items():
        for name in ("frycast", "peer"):
            # a finite, positive MASE for every level: the peer's ids matched frycast's nodes
            assert math.isfinite(scores[name]) and scores[name] > 0, (level, name, scores)
    assert r.bottom_series > 0 and r.nodes > r.bottom_series
    assert r.frycast_seconds > 0 and r.peer_seconds > 0
    assert set(r.peer_parts) == {"aggregate", "autoets", "mint_shrink"}
    report = bench_peer.format_report(r)
    assert "| chain |" in report and "AutoETS + MinT-shrink" in report
