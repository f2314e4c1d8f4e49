"""frycast's reconcilers equal hierarchicalforecast's dense ones on small hierarchies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hierarchicalforecast.methods import BottomUp as HFBottomUp
from hierarchicalforecast.methods import MinTrace
from hierarchicalforecast.methods import TopDown as HFTopDown

from ml.reconcile.hierarchy import FRYCAST_LEVELS, Hierarchy
from ml.reconcile.methods import build_reconciler

STRICT = (("chain", ()), ("region", ("region",)), ("restaurant", ("restaurant_id",)))


def chain(restaurants: int, skus: int, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (f"R{r:02d}", f"S{s:02d}", f"region{r % 3}", f"group{s % 4}")
            for r in range(restaurants)
            for s in range(skus)
        ],
        columns=["restaurant_id", "sku_id", "region", "product_group"],
    )


def problem(h: Hierarchy, T: int = 60, k: int = 14, seed: int = 0):
    """Actuals, base forecasts that do not add up, and in-sample fitted values of every node."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 10.0, size=(h.n_bottom, 1))
    bottom = rng.poisson(level, size=(h.n_bottom, T + k)).astype(float)
    y = h.aggregate(bottom)
    noise = lambda shape: rng.normal(1.0, 0.15, size=shape)  # noqa: E731
    fitted = y[:, :T] * noise((h.n_nodes, T))
    base = y[:, T:] * noise((h.n_nodes, k))
    return y[:, :T], fitted, base, bottom[:, :T]


@pytest.mark.parametrize("method", ["ols", "wls_struct", "wls_var", "mint_shrink"])
@pytest.mark.parametrize("levels", [FRYCAST_LEVELS, STRICT], ids=["grouped", "strict"])
def test_projections_equal_hierarchicalforecast(method, levels):
    h = Hierarchy.from_bottom(chain(8, 6), levels)
    y_in, fitted, base, _ = problem(h)
    ours = build_reconciler(method).reconcile(h, base, residuals=(y_in - fitted).T)
    S = h.S.toarray()
    theirs = MinTrace(method=method).fit_predict(
        S=S, y_hat=base, y_insample=y_in, y_hat_insample=fitted
    )["mean"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * np.abs(theirs).max())
    assert h.coherence_error(ours) < 1e-9


def test_bottom_up_equals_hierarchicalforecast():
    h = Hierarchy.from_bottom(chain(5, 4))
    _, _, base, _ = problem(h)
    theirs = HFBottomUp().fit_predict(S=h.S.toarray(), y_hat=base)
    np.testing.assert_allclose(
        build_reconciler("bottom_up").reconcile(h, base), theirs["mean"], rtol=1e-12
    )


@pytest.mark.parametrize("method", ["average_proportions", "proportion_averages"])
def test_top_down_equals_hierarchicalforecast(method):
    from ml.reconcile.methods import TopDown

    h = Hierarchy.from_bottom(chain(6, 3), STRICT)
    y_in, _, base, bottom_hist = problem(h)
    tags = {lvl: idx for lvl, idx in h.level_slices().items()}
    theirs = HFTopDown(method=method).fit_predict(
        S=h.S.toarray(), y_hat=base, tags=tags, y_insample=y_in
    )["mean"]
    ours = TopDown(method).reconcile(h, base, history=bottom_hist)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_shrinkage_equals_hierarchicalforecast_covariance():
    from hierarchicalforecast.utils import _shrunk_covariance_schaferstrimmer_no_nans

    from ml.reconcile.methods import shrinkage

    rng = np.random.default_rng(3)
    e = rng.normal(size=(40, 15)) @ rng.normal(size=(15, 15))
    lam, var, centred = shrinkage(e)
    ours = lam * np.diag(var) + (1 - lam) * centred.T @ centred / (e.shape[0] - 1)
    theirs = _shrunk_covariance_schaferstrimmer_no_nans(np.ascontiguousarray(e.T), 0.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9 * np.abs(theirs).max())
    assert 0 < lam < 1
