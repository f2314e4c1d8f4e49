"""The neural models in the shared model tests: marked (they need the extra, ``make
test-neural``) and on a small training budget (a test checks behaviour, not accuracy)."""

from __future__ import annotations

import pytest

from ml.models import NEURAL_MODELS

# a few dozen steps on the tiny panel: seconds per fit on 2 cores
FAST = {
    "max_steps": 30,
    "val_every": 10,
    "patience": 2,
    "hidden_size": 16,
    "encoder_days": 28,
    "val_days": 28,
    "batch_size": 64,
}


def model_cases(names) -> list:
    """``names`` for ``parametrize``, the neural ones marked ``neural``."""
    return [pytest.param(n, marks=pytest.mark.neural) if n in NEURAL_MODELS else n for n in names]


def params_for(name: str) -> dict | None:
    return dict(FAST) if name in NEURAL_MODELS else None
