"""The grouped hierarchy as a sparse summing matrix.

A hierarchy is defined by the bottom series (one row each, with their attributes) and a list of
aggregation levels, each a tuple of attribute columns: () is the grand total, ("region",) one node
per region, ("restaurant_id", "product_group") one node per restaurant × product group. Nodes are
ordered aggregates first (level by level, keys sorted), then the bottom series in their given
order, so ``S = [A; I]`` with ``A`` (n_aggregates × n_bottom) sparse 0/1.

Memory is linear in the number of bottom series: ``A`` has one non-zero per bottom series per
aggregate level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

# frycast's levels are defined in frycast.levels (no dependencies: settings and the dashboard
# import it); these names are that definition, re-exported
from frycast.levels import FRYCAST_BOTTOM as FRYCAST_BOTTOM
from frycast.levels import FRYCAST_LEVELS as FRYCAST_LEVELS
from frycast.levels import HIERARCHY_COLUMNS as HIERARCHY_COLUMNS
from frycast.levels import HIERARCHY_LEVELS as HIERARCHY_LEVELS
from frycast.levels import LEVEL_NAMES as LEVEL_NAMES


def levels_named(names: tuple[str, ...] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The aggregate levels called ``names`` (all of them for None), in hierarchy order."""
    if names is None:
        return FRYCAST_LEVELS
    known = dict(FRYCAST_LEVELS)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown hierarchy level(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return tuple((n, cols) for n, cols in FRYCAST_LEVELS if n in names)


@dataclass(frozen=True)
class Hierarchy:
    """``nodes`` has one row per node (level, node_key, and the level's attribute values);
    ``A`` maps bottom series to aggregate nodes (CSR, n_aggregates × n_bottom)."""

    nodes: pd.DataFrame
    A: sp.csr_matrix
    bottom_level: str

    @classmethod
    def from_bottom(
        cls,
        bottom: pd.DataFrame,
        levels: tuple[tuple[str, tuple[str, ...]], ...] = FRYCAST_LEVELS,
        bottom_level: tuple[str, tuple[str, ...]] = FRYCAST_BOTTOM,
    ) -> Hierarchy:
        bottom = bottom.reset_index(drop=True)
        n_b = len(bottom)
        frames, rows, cols = [], [], []
        offset = 0
        for name, columns in levels:
            if columns:
                keys = _key(bottom, columns)
                codes, uniques = pd.factorize(keys, sort=True)
                attrs = (
                    bottom.loc[:, list(columns)]
                    .assign(_code=codes)
                    .drop_duplicates("_code")
                    .sort_values("_code")
                    .drop(columns="_code")
                    .reset_index(drop=True)
                )
            else:
                codes, uniques = np.zeros(n_b, dtype=int), pd.Index([name])
                attrs = pd.DataFrame(index=range(1))
            frames.append(attrs.assign(level=name, node_key=np.asarray(uniques, dtype=object)))
            rows.append(codes + offset)
            cols.append(np.arange(n_b))
            offset += len(uniques)
        name, columns = bottom_level
        attributes = list(dict.fromkeys(list(columns) + [c for _, cs in levels for c in cs]))
        frames.append(bottom.loc[:, attributes].assign(level=name, node_key=_key(bottom, columns)))
        A = sp.csr_matrix(
            (np.ones(n_b * len(levels)), (np.concatenate(rows), np.concatenate(cols))),
            shape=(offset, n_b),
        )
        nodes = pd.concat(frames, ignore_index=True)
        # an aggregate inherits an attribute all its members share (a restaurant's region)
        member = pd.DataFrame({"node": np.concatenate(rows), "bottom": np.concatenate(cols)})
        for c in attributes:
            vals = member.assign(v=bottom[c].to_numpy()[member["bottom"]]).groupby("node")["v"]
            shared = vals.first().where(vals.nunique() == 1)
            agg_rows = np.arange(offset)
            current = nodes.loc[agg_rows, c].astype(object)
            nodes.loc[agg_rows, c] = current.where(current.notna(), shared.reindex(agg_rows))
        front = ["level", "node_key"]
        nodes = nodes[front + [c for c in nodes.columns if c not in front]]
        return cls(nodes, A, name)

    @property
    def n_bottom(self) -> int:
        return self.A.shape[1]

    @property
    def n_aggregate(self) -> int:
        return self.A.shape[0]

    @property
    def n_nodes(self) -> int:
        return self.n_aggregate + self.n_bottom

    @property
    def S(self) -> sp.csr_matrix:
        """The summing matrix (n_nodes × n_bottom)."""
        return sp.vstack([self.A, sp.identity(self.n_bottom, format="csr")], format="csr")

    def node_index(self) -> dict[tuple[str, str], int]:
        """Each node's row, by (level, node_key)."""
        keys = zip(self.nodes["level"], self.nodes["node_key"], strict=True)
        return {key: i for i, key in enumerate(keys)}

    def aggregate(self, bottom_values: np.ndarray) -> np.ndarray:
        """Every node's values from the bottom's: (n_bottom × ...) → (n_nodes × ...)."""
        b = np.asarray(bottom_values, dtype=float)
        flat = b.reshape(b.shape[0], -1)
        return np.vstack([self.A @ flat, flat]).reshape((self.n_nodes,) + b.shape[1:])

    def aggregate_observed(self, bottom_values: np.ndarray) -> np.ndarray:
        """Like :meth:`aggregate` for actuals with NaN (closed days, not yet on sale): an
        aggregate is NaN where none of its bottom series is observed."""
        b = np.asarray(bottom_values, dtype=float)
        flat = b.reshape(b.shape[0], -1)
        observed = (~np.isnan(flat)).astype(float)
        total = self.A @ np.nan_to_num(flat)
        count = self.A @ observed
        agg = np.where(count > 0, total, np.nan)
        return np.vstack([agg, flat]).reshape((self.n_nodes,) + b.shape[1:])

    def level_slices(self) -> dict[str, np.ndarray]:
        """Row indices of each level's nodes."""
        return {
            lvl: idx.to_numpy()
            for lvl, idx in self.nodes.groupby("level", sort=False).groups.items()
        }

    def coherence_error(self, values: np.ndarray) -> float:
        """Max relative gap between each aggregate and the sum of its bottom series."""
        v = np.asarray(values, dtype=float).reshape(self.n_nodes, -1)
        summed = self.A @ v[self.n_aggregate :]
        gap = np.abs(v[: self.n_aggregate] - summed)
        return float(np.max(gap / np.maximum(np.abs(summed), 1.0))) if gap.size else 0.0


def _key(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    out = frame[columns[0]].astype(str)
    for c in columns[1:]:
        out = out + "/" + frame[c].astype(str)
    return out.to_numpy(dtype=object)
