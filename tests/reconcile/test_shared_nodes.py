"""One forecast per distinct set of members: nodes that are the same series are fitted once.

A restaurant alone in its region is the region; a product group with one SKU in a one-restaurant
chain is that SKU's series. Fitting each again wastes the run (1,604 of 2,400 nodes with one item
per restaurant) and can even give the same sales two different forecasts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.engine import EngineConfig
from ml.hierarchical import NodeSharing, contiguous, run_hierarchical
from ml.reconcile.hierarchy import Hierarchy
from tests.ml.synthetic import panel_of

CONFIG = EngineConfig(
    horizon=14, folds=3, fold_horizon=14, models=("snaive", "weekday_mean"), n_jobs=1
)


def _bottom(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["restaurant_id", "sku_id", "region", "product_group"])


def test_nodes_with_the_same_members_share_one_source():
    # two restaurants in two regions; SKU S3 is the only item of group "drinks", sold in R1 only
    h = Hierarchy.from_bottom(
        _bottom(
            [
                ("R1", "S1", "North", "food"),
                ("R1", "S2", "North", "food"),
                ("R1", "S3", "North", "drinks"),
                ("R2", "S1", "South", "food"),
            ]
        )
    )
    share = NodeSharing.of(h)
    names = (h.nodes["level"] + " " + h.nodes["node_key"]).tolist()
    own = [names[j] for j in share.distinct]
    bottom = names[h.n_aggregate :]
    src = {names[j]: (own + bottom)[s] for j, s in enumerate(share.source)}
    assert src["restaurant R1"] == "region North"  # the first node with those members
    assert src["region South"] == src["restaurant R2"] == "restaurant_sku R2/S1"
    assert src["product_group drinks"] == src["sku S3"] == "restaurant_sku R1/S3"
    assert src["restaurant_product_group R1/food"] == "restaurant_product_group R1/food"
    assert src["chain chain"] == "chain chain" and src["sku S1"] == "sku S1"
    # distinct sets are each forecast once: chain, region North (= restaurant R1), food, S1,
    # R1/food
    assert len(share.distinct) == 5 and share.n_shared == h.n_aggregate - 5


def test_a_one_restaurant_chain_forecasts_its_aggregate_once_and_shares_it():
    rng = np.random.default_rng(3)
    y = rng.poisson([[20.0], [5.0], [9.0]], size=(3, 200)).astype(float)
    panel = panel_of(y, horizon=14)
    result = run_hierarchical(panel, CONFIG, reconciler="mint_shrink")
    # chain = region = restaurant = product group = restaurant × product group: one series;
    # each SKU node is its bottom series
    assert len(result.aggregate.selection) == 1
    assert result.summary["shared_nodes"] == result.hierarchy.n_aggregate - 1
    f = result.forecasts
    base = f[~f["reconciled"]].pivot_table(
        index=["level", "node_key"], columns="forecast_date", values="yhat"
    )
    assert len(base) == result.hierarchy.n_nodes  # every node keeps its name and its rows
    for level in ("region", "restaurant", "product_group", "restaurant_product_group"):
        np.testing.assert_array_equal(base.xs(level).to_numpy()[0], base.xs("chain").to_numpy()[0])
    for sku in ("S0001", "S0002", "S0003"):
        np.testing.assert_array_equal(
            base.loc[("sku", sku)].to_numpy(),
            base.loc[("restaurant_sku", f"R0001/{sku}")].to_numpy(),
        )
    sel = result.selection.set_index(["level", "node_key"])
    assert "forecast once, shared" in sel.loc[("sku", "S0001"), "reason"]
    assert "shared" not in sel.loc[("chain", "chain"), "reason"]
    # the shared nodes are scored like any other (their own rows in the metrics)
    m = result.metrics
    assert set(m.loc[m["model"] == "selected", "level"]) >= {"sku", "region", "chain"}
    assert result.summary["coherence_error"] < 1e-6


def test_a_contiguous_run_of_rows_is_a_slice_and_selects_the_same_values():
    values = np.arange(2 * 10 * 3).reshape(2, 10, 3)
    run = contiguous(np.array([4, 5, 6]))
    assert run == slice(4, 7)
    np.testing.assert_array_equal(values[:, run], values[:, [4, 5, 6]])
    assert np.shares_memory(values[:, run], values)  # a view: no copy of the array
    gaps = contiguous(np.array([1, 3]))
    assert isinstance(gaps, np.ndarray) and gaps.tolist() == [1, 3]
    assert contiguous(np.array([], dtype=int)).size == 0
