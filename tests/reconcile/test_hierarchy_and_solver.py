"""The sparse hierarchy and the aggregate-space solver, checked against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.reconcile.hierarchy import FRYCAST_LEVELS, Hierarchy
from ml.reconcile.methods import MinTShrink, build_reconciler
from ml.reconcile.solve import AggregateSpaceSolver, Covariance


def chain(restaurants: int, skus: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (f"R{r:03d}", f"S{s:03d}", f"region{r % 4}", f"group{s % 5}")
            for r in range(restaurants)
            for s in range(skus)
        ],
        columns=["restaurant_id", "sku_id", "region", "product_group"],
    )


def test_the_grouped_hierarchy_by_hand():
    h = Hierarchy.from_bottom(chain(6, 10))
    counts = h.nodes["level"].value_counts().to_dict()
    assert counts == {
        "chain": 1,
        "region": 4,
        "restaurant": 6,
        "product_group": 5,
        "sku": 10,
        "restaurant_product_group": 30,
        "restaurant_sku": 60,
    }
    # memory is linear: one non-zero per bottom series per aggregate level
    assert h.A.nnz == 60 * len(FRYCAST_LEVELS)
    nodes = h.nodes.set_index("node_key")
    assert nodes.loc["R001", "region"] == "region1"  # a restaurant inherits its region
    assert pd.isna(nodes.loc["group1", "region"])  # a product group spans regions
    assert nodes.loc["R001/group2", "level"] == "restaurant_product_group"
    # R001 sells S002 and S007 in group2: the node sums exactly those two bottom series
    row = h.A[nodes.index.get_loc("R001/group2")]
    bottom_keys = h.nodes["node_key"].to_numpy()[h.n_aggregate :]
    assert sorted(bottom_keys[row.indices]) == ["R001/S002", "R001/S007"]


def test_aggregate_observed_keeps_missing_aggregates_missing():
    h = Hierarchy.from_bottom(chain(2, 2))
    y = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, np.nan], [4.0, np.nan]])
    agg = h.aggregate_observed(y)
    assert agg[0, 0] == 7.0  # the chain: 1 + 2 + 4, the closed series skipped
    assert np.isnan(agg[0, 1])  # nothing observed anywhere that day


def test_mint_shrink_is_exact_with_more_series_than_residual_days():
    # 600 bottom series, 40 residual days: Σ̂ is rank 40, W = diag + low rank (Woodbury)
    h = Hierarchy.from_bottom(chain(20, 30))
    rng = np.random.default_rng(7)
    base = rng.gamma(3, 5, size=(h.n_nodes, 5))
    e = rng.normal(size=(40, h.n_nodes)) * np.sqrt(h.aggregate(np.ones(h.n_bottom)))
    W = MinTShrink().covariance(h, e)
    dense_W = np.diag(W.d) + W.U @ W.U.T
    S = h.S.toarray()
    Winv_S = np.linalg.solve(dense_W, S)
    dense = S @ np.linalg.solve(S.T @ Winv_S, Winv_S.T @ base)
    ours = build_reconciler("mint_shrink").reconcile(h, base, residuals=e)
    np.testing.assert_allclose(ours, dense, rtol=1e-7, atol=1e-7 * np.abs(dense).max())


def test_the_solve_is_checked_not_assumed():
    h = Hierarchy.from_bottom(chain(3, 4))
    rng = np.random.default_rng(1)
    solver = AggregateSpaceSolver(h, Covariance(rng.uniform(1, 2, h.n_nodes)), tol=0.0)
    with pytest.raises(FloatingPointError, match="did not converge"):
        solver.solve(rng.normal(size=(h.n_aggregate, 3)))


def test_a_non_positive_weight_is_refused():
    h = Hierarchy.from_bottom(chain(2, 2))
    with pytest.raises(ValueError, match="positive"):
        AggregateSpaceSolver(h, Covariance(np.zeros(h.n_nodes)))


def test_residuals_of_the_wrong_shape_are_a_clear_error():
    h = Hierarchy.from_bottom(chain(2, 2))
    with pytest.raises(ValueError, match="residuals must be T × "):
        build_reconciler("mint_shrink").reconcile(
            h, np.ones((h.n_nodes, 2)), residuals=np.ones((10, 3))
        )


def test_row_quantiles_equal_numpys_nanquantile():
    from ml.hierarchical import row_nanquantiles

    rng = np.random.default_rng(5)
    a = rng.normal(size=(400, 60))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[3] = np.nan  # no values at all: NaN, as numpy (which also warns)
    a[4, 1:] = np.nan  # a single value
    a[5] = 2.5  # all equal
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanquantile(a, [0.1, 0.5, 0.9], axis=1)
    ours = row_nanquantiles(a, (0.1, 0.5, 0.9))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12, equal_nan=True)
