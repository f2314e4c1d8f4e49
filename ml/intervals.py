"""One calibrated predictive distribution per series and day, from backtest residuals.

For a model, the residuals y - ŷ of its backtest folds are divided by each series' scale (the
seasonal-naive MAE of the training data, so series of every size pool together) and grouped by
horizon bucket and volume class (intermittent or smooth). A forecast's predictive distribution is
ŷ + scale · r over the residuals r of its group, floored at zero (units cannot be negative). The
served 0.1 / 0.5 / 0.9 quantiles are that distribution's, and the served point forecast is the
model's forecast held inside that distribution's 80 % band, so the point and the band can never
contradict each other. (Its mean was tried as the point: promotion spikes give the residuals a long
right tail, and on the accuracy benchmark the mean made MASE 1.7-5× worse than the model's own
forecast while the band's coverage was unchanged.)

Which folds a calibration may learn from is the evaluation protocol's business (``ml.nested``):
the served forecast uses every fold; a reported score uses only days before the window it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Horizon buckets (first day, last day); the last is open-ended, so any horizon has one.
BUCKETS = ((1, 7), (8, 28), (29, 91), (92, 182), (183, None))
INTERMITTENT_ZERO_SHARE = 0.3
MIN_SCALE = 0.1


def bucket_labels() -> list[str]:
    return [f"{a}-{b}" if b else f"{a}+" for a, b in BUCKETS]


def in_bucket(day: np.ndarray, bucket: tuple[int, int | None]) -> np.ndarray:
    a, b = bucket
    return (day >= a) & (day <= b) if b else day >= a


def volume_class(zero_share: np.ndarray) -> np.ndarray:
    return np.where(
        np.nan_to_num(zero_share, nan=1.0) >= INTERMITTENT_ZERO_SHARE, "intermittent", "smooth"
    )


def safe_scale(scale: np.ndarray) -> np.ndarray:
    return np.maximum(np.nan_to_num(scale, nan=MIN_SCALE), MIN_SCALE)


@dataclass
class ConformalCalibration:
    """Residual quantiles per (horizon bucket, volume class); ``table`` has q10, q50, q90, n."""

    table: pd.DataFrame

    @classmethod
    def fit(
        cls, actuals: np.ndarray, preds: np.ndarray, scales: np.ndarray, zero_share: np.ndarray
    ) -> ConformalCalibration:
        """From (fold, series, day) actuals and predictions, and (fold, series) scales; NaN
        actuals (closed days, or days the protocol hides) are left out."""
        h = actuals.shape[-1]
        resid = (actuals - preds) / safe_scale(scales)[..., None]
        # a series with no training days at a fold has no scale: its residuals mean nothing
        resid = np.where(np.isnan(scales)[..., None], np.nan, resid)
        classes = np.broadcast_to(volume_class(zero_share)[..., None], resid.shape)
        day = np.broadcast_to(np.arange(1, h + 1), resid.shape)
        rows = []
        for label, bucket in zip(bucket_labels(), BUCKETS, strict=True):
            if bucket[0] > h:
                break
            days = in_bucket(day, bucket)
            for cls_name in ("smooth", "intermittent"):
                r = resid[days & (classes == cls_name)]
                r = r[~np.isnan(r)]
                if r.size == 0:
                    continue
                q10, q50, q90 = np.quantile(r, [0.1, 0.5, 0.9])
                rows.append((label, cls_name, q10, q50, q90, r.size))
        table = pd.DataFrame(
            rows, columns=["horizon_bucket", "volume_class", "q10", "q50", "q90", "n"]
        )
        return cls(table)

    @property
    def empty(self) -> bool:
        return self.table.empty

    def distribution(
        self, yhat: np.ndarray, scale: np.ndarray, zero_share: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The served point (the model's forecast, held inside its band), q10, q50 and q90 for
        model forecasts ``yhat`` (series, day). Beyond the longest calibrated bucket the longest
        one is used; a class without residuals borrows the other's. NaN ``yhat`` stays NaN."""
        n_s, h = yhat.shape
        classes = volume_class(zero_share)
        s = safe_scale(scale)[:, None]
        out = [np.full(yhat.shape, np.nan) for _ in range(4)]  # a day left unset stays NaN
        if self.empty:
            return tuple(out)
        day = np.arange(1, h + 1)
        labels = bucket_labels()
        for cls_name in ("smooth", "intermittent"):
            rows = classes == cls_name
            if not rows.any():
                continue
            sub = self.table[self.table["volume_class"] == cls_name]
            if sub.empty:  # no residuals of this class: borrow the other class's
                sub = self.table
            avail = [i for i, lab in enumerate(labels) if lab in set(sub["horizon_bucket"])]
            for i, bucket in enumerate(BUCKETS):
                cols = in_bucket(day, bucket)
                if not cols.any():
                    continue
                # the bucket itself, else the longest calibrated bucket below it
                label = labels[max((j for j in avail if j <= i), default=avail[0])]
                q = sub[sub["horizon_bucket"] == label]
                block = np.ix_(rows, cols)
                base, sc = yhat[block], s[rows]
                for k, name in enumerate(("q10", "q50", "q90"), start=1):
                    out[k][block] = np.maximum(base + q[name].mean() * sc, 0.0)
                out[0][block] = np.clip(base, out[1][block], out[3][block])
        return tuple(out)

    def quantiles(
        self, yhat: np.ndarray, scale: np.ndarray, zero_share: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """q10, q50, q90 of the distribution (see :meth:`distribution`)."""
        return self.distribution(yhat, scale, zero_share)[1:]


def check_quantiles(frame: pd.DataFrame, where: str) -> None:
    """Refuse forecasts whose quantiles are missing, negative or out of order (q10 <= q50 <= q90)
    on any node and day: nothing with a broken band is written."""
    lo, mid, hi = (frame[c].to_numpy(dtype=float) for c in ("yhat_lo80", "yhat_q50", "yhat_hi80"))
    point = frame["yhat"].to_numpy(dtype=float)
    bad = (
        ~np.isfinite(lo)
        | ~np.isfinite(mid)
        | ~np.isfinite(hi)
        | ~np.isfinite(point)
        | (lo < 0)
        | (lo > mid)
        | (mid > hi)
    )
    if bad.any():
        first = frame[bad].iloc[0]
        raise ValueError(
            f"{where}: {int(bad.sum()):,} forecast rows with missing, negative or unordered "
            f"quantiles, e.g. {first['node_key']} on {first['forecast_date']}: "
            f"[{first['yhat_lo80']}, {first['yhat_q50']}, {first['yhat_hi80']}]"
        )
