"""Reconciliation with immutable forecasts: pinned nodes hold their numbers exactly, the result
adds up and stays non-negative, and it is the constrained MinT solution — checked against the
KKT system solved densely on a small hierarchy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.reconcile.hierarchy import Hierarchy
from ml.reconcile.immutable import (
    ImmutableReconciler,
    Infeasible,
    Pins,
    adjustment_weights,
)
from ml.reconcile.solve import Covariance

BOTTOM = pd.DataFrame(
    [
        ("R1", "S1", "North", "burgers"),
        ("R1", "S2", "North", "drinks"),
        ("R2", "S1", "North", "burgers"),
        ("R2", "S2", "North", "drinks"),
        ("R3", "S1", "South", "burgers"),
        ("R3", "S3", "South", "sides"),
    ],
    columns=["restaurant_id", "sku_id", "region", "product_group"],
)
H = Hierarchy.from_bottom(BOTTOM)


def node(level: str, key: str) -> int:
    nodes = H.nodes
    return int(np.flatnonzero((nodes.level == level) & (nodes.node_key == key))[0])


def _weights(seed: int = 0) -> Covariance:
    rng = np.random.default_rng(seed)
    return Covariance(rng.uniform(0.5, 3.0, H.n_nodes), rng.normal(0, 0.5, (H.n_nodes, 3)))


def _statistical(days: int = 5, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return H.aggregate(rng.uniform(5, 30, (H.n_bottom, days)))


def _dense_solution(y: np.ndarray, W: Covariance, pins: dict[int, float]) -> np.ndarray:
    """The KKT system of min (x - y)' W⁻¹ (x - y) s.t. C x = 0, x_i = t_i, solved densely."""
    n, na = H.n_nodes, H.n_aggregate
    Wd = np.diag(W.d) + (W.U @ W.U.T if W.U is not None else 0)
    C = np.hstack([np.eye(na), -H.A.toarray()])
    E = np.zeros((len(pins), n))
    E[np.arange(len(pins)), list(pins)] = 1
    G = np.vstack([C, E])
    r = np.concatenate([np.zeros(na), list(pins.values())])
    lam = np.linalg.solve(G @ Wd @ G.T, r - G @ y)
    return y + Wd @ G.T @ lam


def _coherent(y: np.ndarray) -> bool:
    return np.allclose(y[: H.n_aggregate], H.A @ y[H.n_aggregate :], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("level", "key"),
    [("restaurant_sku", "R1/S1"), ("restaurant", "R2"), ("region", "North"), ("chain", "chain")],
)
def test_a_pinned_node_holds_and_the_rest_is_the_constrained_mint_solution(level, key):
    y, W = _statistical(), _weights()
    j = node(level, key)
    target = y[j] * 1.3  # a planner expects 30 % more on every day
    out = ImmutableReconciler(H, W).adjust(y, Pins([j] * y.shape[1], range(y.shape[1]), target)).y
    assert np.allclose(out[j], target, rtol=1e-9)
    assert _coherent(out) and (out >= 0).all()
    for day in range(y.shape[1]):
        assert np.allclose(out[:, day], _dense_solution(y[:, day], W, {j: target[day]}), rtol=1e-8)


def test_two_pins_on_nested_nodes_both_hold():
    y, W = _statistical(), _weights()
    region, restaurant = node("region", "North"), node("restaurant", "R1")
    pins = Pins([region, restaurant], [2, 2], [y[region, 2] + 40, y[restaurant, 2] + 25])
    out = ImmutableReconciler(H, W).adjust(y, pins).y
    assert out[region, 2] == pytest.approx(y[region, 2] + 40, rel=1e-9)
    assert out[restaurant, 2] == pytest.approx(y[restaurant, 2] + 25, rel=1e-9)
    # the other days are untouched
    assert np.array_equal(np.delete(out, 2, axis=1), np.delete(y, 2, axis=1))
    expected = _dense_solution(y[:, 2], W, {region: y[region, 2] + 40,
                                            restaurant: y[restaurant, 2] + 25})  # fmt: skip
    assert np.allclose(out[:, 2], expected, rtol=1e-8)


def test_a_low_pin_that_would_push_items_below_zero_keeps_every_forecast_non_negative():
    # GIVEN a restaurant pinned at almost nothing while its region is pinned where it was: MinT
    # would move the restaurant's items below zero
    y, W = _statistical(), _weights()
    r1, north = node("restaurant", "R1"), node("region", "North")
    pins = Pins([r1, north], [0, 0], [0.5, y[north, 0]])
    out = ImmutableReconciler(H, W).adjust(y, pins)
    # THEN the pins hold, the result adds up, and nothing is negative
    assert out.y[r1, 0] == pytest.approx(0.5) and out.y[north, 0] == pytest.approx(y[north, 0])
    assert _coherent(out.y) and (out.y >= 0).all()
    # (without the active set, an item would be below zero: the case is the one it is for)
    unconstrained = _dense_solution(y[:, 0], W, {r1: 0.5, north: y[north, 0]})
    assert (unconstrained[H.n_aggregate :] < 0).any() and out.zeroed > 0
    # AND it is the constrained solution with that item pinned at zero as well
    zeroed = H.n_aggregate + int(np.flatnonzero(out.y[H.n_aggregate :, 0] == 0)[0])
    expected = _dense_solution(y[:, 0], W, {r1: 0.5, north: y[north, 0], zeroed: 0.0})
    assert np.allclose(out.y[:, 0], expected, rtol=1e-8, atol=1e-9)


def test_a_child_pinned_above_its_parent_is_rejected_naming_both():
    y, W = _statistical(), _weights()
    r1, north = node("restaurant", "R1"), node("region", "North")
    with pytest.raises(Infeasible) as info:
        ImmutableReconciler(H, W).adjust(y, Pins([r1, north], [1, 1], [500.0, 300.0]))
    assert set(info.value.nodes) == {r1, north} and info.value.day == 1


def test_children_pinned_above_their_parent_together_are_rejected():
    y, W = _statistical(), _weights()
    r1, r2, north = node("restaurant", "R1"), node("restaurant", "R2"), node("region", "North")
    with pytest.raises(Infeasible) as info:
        ImmutableReconciler(H, W).adjust(y, Pins([r1, r2, north], [0, 0, 0], [60.0, 60.0, 100.0]))
    assert set(info.value.nodes) == {r1, r2, north}


def test_nodes_with_the_same_members_pinned_apart_are_rejected():
    # region South is restaurant R3: the same two series
    y, W = _statistical(), _weights()
    south, r3 = node("region", "South"), node("restaurant", "R3")
    with pytest.raises(Infeasible) as info:
        ImmutableReconciler(H, W).adjust(y, Pins([south, r3], [0, 0], [40.0, 41.0]))
    assert set(info.value.nodes) == {south, r3}
    # pinned alike, both hold
    out = ImmutableReconciler(H, W).adjust(y, Pins([south, r3], [0, 0], [40.0, 40.0])).y
    assert out[south, 0] == pytest.approx(40.0) and out[r3, 0] == pytest.approx(40.0)


def test_weights_kept_to_a_low_rank_keep_each_nodes_variance():
    rng = np.random.default_rng(4)
    residuals = rng.normal(0, 1, (60, H.n_nodes)) @ rng.normal(0, 1, (H.n_nodes, H.n_nodes))
    full = adjustment_weights(H, residuals, rank=H.n_nodes)
    low = adjustment_weights(H, residuals, rank=2)
    diag = lambda W: W.d + (W.U**2).sum(axis=1)  # noqa: E731
    assert low.U.shape == (H.n_nodes, 2)
    assert np.allclose(diag(low), diag(full))


def test_a_deep_cut_zeroes_several_items_and_is_the_solution_with_them_fixed_at_zero():
    # GIVEN the chain cut to a fifth of its forecast while one restaurant is held where it was:
    # the other restaurants' items must give up more than they have, over several rounds
    y, W = _statistical(days=3, seed=4), _weights(seed=5)
    chain, r3 = node("chain", "chain"), node("restaurant", "R3")
    day = 1
    target = {chain: 0.2 * y[chain, day], r3: min(y[r3, day], 0.15 * y[chain, day])}
    out = ImmutableReconciler(H, W).adjust(y, Pins(list(target), [day, day], list(target.values())))
    # THEN the pins hold, it adds up, nothing is negative, and more than one item is at zero
    col = out.y[:, day]
    assert col[chain] == pytest.approx(target[chain], rel=1e-9)
    assert col[r3] == pytest.approx(target[r3], rel=1e-9)
    assert _coherent(out.y) and (out.y >= 0).all()
    zeroed = [H.n_aggregate + int(i) for i in np.flatnonzero(col[H.n_aggregate :] == 0)]
    assert len(zeroed) >= 2 and out.zeroed >= 2
    # AND it is the dense KKT solution with those items fixed at zero (the elimination is exact)
    expected = _dense_solution(y[:, day], W, {**target, **dict.fromkeys(zeroed, 0.0)})
    assert np.allclose(col, expected, rtol=1e-8, atol=1e-9)
