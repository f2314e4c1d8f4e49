"""Intermittent-demand models for items that sell on few days: TSB, ADIDA and IMAPA.

statsforecast's implementations, called per series on its open days (a closed day is not a day of
zero demand; ``ml.openness`` forecasts closures). Each gives a flat demand rate per day: for an item
sold a few times a week that beats repeating last week's zeros and ones. They compete in selection
like any model (the segment of intermittent series is where they can win) and are not combo
members: averaged with smooth-demand models they only blur both.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ml.models.base import Forecaster
from ml.panel import Panel

KINDS = ("tsb", "adida", "imapa")
MIN_OBSERVED = 14  # open days a series needs before its rate means anything


def _model(kind: str):
    from statsforecast.models import ADIDA, IMAPA, TSB

    if kind == "tsb":
        return TSB(alpha_d=0.1, alpha_p=0.1)  # smoothing of demand size and probability
    return ADIDA() if kind == "adida" else IMAPA()


class IntermittentForecaster(Forecaster):
    """TSB, ADIDA or IMAPA, one fit per series on its last ``max_history`` open days."""

    def __init__(self, kind: str, max_history: int = 364) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind, self.max_history = kind, max_history
        self.name = kind

    def fit(self, panel: Panel) -> IntermittentForecaster:
        self._y = panel.y[:, -self.max_history :]
        return self

    def predict(self, h: int) -> np.ndarray:
        out = np.full((self._y.shape[0], h), np.nan)
        reasons: Counter = Counter()
        for i, row in enumerate(self._y):
            y = row[~np.isnan(row)]
            if y.size < MIN_OBSERVED:
                reasons["history too short"] += 1
                continue
            if not (y > 0).any():
                out[i] = 0.0  # never sold in the window: the models' own answer is 0
                continue
            try:
                pred = _model(self.kind).forecast(y=y.astype(float), h=h)["mean"]
            except Exception as exc:  # noqa: BLE001 - counted and served by another model
                reasons[type(exc).__name__] += 1
                continue
            if np.isfinite(pred).all():
                out[i] = np.maximum(pred, 0.0)
            else:
                reasons["non-finite forecast"] += 1
        self.failures = dict(reasons)
        return out

    def params(self) -> dict:
        return {"kind": self.kind, "max_history": self.max_history}
