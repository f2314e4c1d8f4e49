"""One interface for every forecaster: fit on a panel, predict h days for every series."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ml.panel import Panel

NO_HISTORY = "no history"  # the failure of a series without one observed day at the origin


class Forecaster(ABC):
    """Fit on the history of a panel; predict a point forecast for the next ``h`` days.

    Capability flags tell the engine how to run a model:
    - ``is_global``: one model learns from all series at once (else one fit per series);
    - ``uses_known_features``: reads ``panel.known`` (calendar, holidays, planned promotions).

    Intervals are not each model's business: the engine calibrates the 0.1 / 0.5 / 0.9 quantiles of
    every model the same way, from its backtest residuals (``ml.intervals``), so bands are
    comparable across models and their coverage is measured, not assumed.
    """

    name: str = "forecaster"
    is_global: bool = False
    uses_known_features: bool = False
    # series the last predict() could not forecast, by reason (their rows are NaN); a model
    # that cannot fit a series says so here instead of inventing a number
    failures: dict[str, int] = {}  # noqa: RUF012 - replaced, never mutated, per predict

    @abstractmethod
    def fit(self, panel: Panel) -> Forecaster:
        """Learn from ``panel`` (its history ends at the forecast origin)."""

    @abstractmethod
    def predict(self, h: int) -> np.ndarray:
        """Point forecasts, shape (n_series, h), for the ``h`` days after the origin; >= 0."""

    def params(self) -> dict:
        """The hyper-parameters worth logging."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params()})"
