"""The nested evaluation protocol: a figure frycast reports about a forecast is scored on days
that no choice behind that forecast has seen.

Backtest folds are expanding windows (``ml.backtest``). A fold is *scored* with choices — model
selection, interval calibration, the reconciler's covariance, tuning — fitted only on the
residuals of earlier folds on days that were already known at its origin (its own test window is
never among them). The oldest fold has nothing before it: it only calibrates. The served forecast
makes the same choices from every fold; what frycast claims for it is the score of the *procedure*
on the scored folds, each with its own earlier-data choices. With one fold nothing is out of
sample, and the run says so instead of reporting an in-sample figure::

    days ─────────────────────────────────────────────────────────────▶ last day
    fold 2  [train ───────────][test 2]                     calibrates only
    fold 1  [train ──────────────────────][test 1]           scored with choices from test 2
    fold 0  [train ─────────────────────────────────][test 0] scored with choices from 2, 1
    served  [train ───────────────────────────────────────────────][forecast]  choices from all
"""

from __future__ import annotations

import numpy as np

from ml.backtest import Fold


def known_days(folds: list[Fold], i: int) -> np.ndarray:
    """For each fold, how many of its test days were known at fold ``i``'s origin (0 for ``i``
    itself and for folds that start later)."""
    origin = folds[i].origin
    return np.array(
        [
            0 if j == i else int(np.clip(origin - f.origin, 0, f.horizon))
            for j, f in enumerate(folds)
        ]
    )


def scored_folds(folds: list[Fold]) -> list[int]:
    """The folds that have earlier data to learn their choices from."""
    return [i for i in range(len(folds)) if known_days(folds, i).any()]


def before(a: np.ndarray, folds: list[Fold], i: int) -> np.ndarray:
    """A (fold, ..., day) array with every value fold ``i``'s choices may not see set to NaN."""
    n = known_days(folds, i)
    day = np.arange(a.shape[-1])
    keep = day[None, :] < n[:, None]  # (fold, day)
    shape = (len(folds),) + (1,) * (a.ndim - 2) + (a.shape[-1],)
    return np.where(keep.reshape(shape), a, np.nan)


def evaluation_note(folds: list[Fold]) -> dict:
    """What a run states about its own evidence: which folds were scored, which only calibrated,
    and whether the figures it reports are out of sample at all."""
    scored = scored_folds(folds)
    note = {
        "protocol": "nested: each scored fold's choices come from earlier folds' known days",
        "scored_folds": [folds[i].index for i in scored],
        "calibration_only_folds": [f.index for k, f in enumerate(folds) if k not in scored],
        "out_of_sample": bool(scored),
        "why": None,
    }
    if not scored:
        note["why"] = (
            f"{len(folds)} backtest fold(s) of {folds[0].horizon} days: no fold has earlier "
            "data to choose and calibrate with, so no accuracy figure is out of sample "
            "(more history, or shorter folds, would give one)"
        )
    elif any(known_days(folds, i).max() < folds[i].horizon for i in scored):
        note["why"] = (
            "folds overlap: a scored fold's long horizons are calibrated from the earlier "
            "folds' shorter horizons known at its origin"
        )
    return note
