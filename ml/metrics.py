"""Forecast accuracy metrics, vectorised over series: arrays are (..., h) with NaN meaning "no
actual" (a closed day), and every metric reduces the last axis.

- MASE (Hyndman & Koehler 2006): mean absolute error over the mean absolute error of the in-sample
  seasonal naive forecast (m = 7);
- sMAPE: mean of 2|y - ŷ| / (|y| + |ŷ|), in [0, 2], a day with y = ŷ = 0 scoring 0;
- wQL: for each q in {0.1, 0.5, 0.9}, 2·Σ pinball_q / Σ|y|, averaged over the quantiles (the
  "scaled CRPS" of utilsforecast), over days with an actual and every quantile;
- coverage: the share of actuals inside [lo, hi], over days with an actual and both bounds.
"""

from __future__ import annotations

import numpy as np

from ml.panel import nanmean

QUANTILES = (0.1, 0.5, 0.9)


def seasonal_naive_scale(y_train: np.ndarray, m: int = 7) -> np.ndarray:
    """Mean |y_t - y_{t-m}| over training days where both are observed; NaN if there are none."""
    y = np.asarray(y_train, dtype=float)
    if y.shape[-1] <= m:
        return np.full(y.shape[:-1], np.nan)
    return _nanmean(np.abs(y[..., m:] - y[..., :-m]))


def mase(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mean absolute error over observed days divided by ``scale``; NaN where undefined."""
    mae = _nanmean(np.abs(np.asarray(y, float) - np.asarray(yhat, float)))
    scale = np.asarray(scale, dtype=float)
    ok = np.isfinite(scale) & (scale > 0) & np.isfinite(mae)
    return _out(np.divide(mae, scale, out=np.full(np.shape(mae), np.nan), where=ok))


def smape(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    yhat = np.broadcast_to(np.asarray(yhat, dtype=float), y.shape)
    denom = np.abs(y) + np.abs(yhat)
    terms = np.divide(2 * np.abs(y - yhat), denom, out=np.zeros(y.shape), where=denom > 0)
    # a day without an actual, or without a forecast, is not scored (not a perfect 0)
    return _out(_nanmean(np.where(np.isnan(y) | np.isnan(yhat), np.nan, terms)))


def pinball(y: np.ndarray, q_pred: np.ndarray, q: float) -> np.ndarray:
    """The pinball (quantile) loss of each observation."""
    diff = np.asarray(y, float) - np.asarray(q_pred, float)
    return np.maximum(q * diff, (q - 1) * diff)


def wql(y: np.ndarray, quantile_preds: dict[float, np.ndarray]) -> np.ndarray:
    """Mean over the quantiles of 2·Σ pinball_q / Σ|y|, over the days that have an actual *and*
    every quantile (a missing quantile drops the day from the loss and the denominator together,
    so it cannot make the score better); NaN where Σ|y| = 0 or no day is scored."""
    y = np.asarray(y, dtype=float)
    preds = {q: np.broadcast_to(np.asarray(p, float), y.shape) for q, p in quantile_preds.items()}
    scored = ~np.isnan(y)
    for p in preds.values():
        scored &= np.isfinite(p)
    y0 = np.where(scored, y, 0.0)  # unscored days add nothing to the loss or to Σ|y|
    total = np.sum(np.abs(y0), axis=-1)
    losses = []
    for q, pred in preds.items():
        loss = np.sum(pinball(y0, np.where(scored, pred, 0.0), q), axis=-1)
        losses.append(
            np.divide(2 * loss, total, out=np.full(np.shape(total), np.nan), where=total > 0)
        )
    return _out(np.mean(losses, axis=0))


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share of the days with an actual and both bounds that have lo <= y <= hi (a day without a
    band is not scored: it neither covers nor misses)."""
    y = np.asarray(y, dtype=float)
    lo = np.broadcast_to(np.asarray(lo, float), y.shape)
    hi = np.broadcast_to(np.asarray(hi, float), y.shape)
    scored = ~np.isnan(y) & np.isfinite(lo) & np.isfinite(hi)
    inside = ((y >= lo) & (y <= hi)).astype(float)
    return _out(_nanmean(np.where(scored, inside, np.nan)))


def _nanmean(a: np.ndarray) -> np.ndarray:
    return nanmean(a, axis=-1)


def _out(a):
    """Plain floats for 1-d inputs, arrays otherwise."""
    return float(a) if np.ndim(a) == 0 else a
