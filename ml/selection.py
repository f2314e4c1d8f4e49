"""Model selection per series from backtest MASE, with the reasons kept.

The panel-wide winner (lowest mean MASE over series and folds) is every series' default. A series
switches to its own best model only when that beats the default by more than ``margin`` on its own
folds: per-series scores over a few folds are noisy, and a small, unexplained win is more often luck
than signal. Series without backtest actuals (new or short) get the fallback model.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def select_models(
    series_mase: dict[str, np.ndarray],
    *,
    fallback: str = "weekday_mean",
    margin: float = 0.05,
) -> pd.DataFrame:
    """``series_mase[model]`` is (n_folds, n_series). Returns one row per series: model, score,
    runner_up, runner_up_score, reason, scores (JSON of every model's mean MASE)."""
    names = list(series_mase)
    mean = np.vstack([_nanmean0(series_mase[m]) for m in names])  # (n_models, n_series)
    panel_score = np.array([np.nanmean(row) if np.isfinite(row).any() else np.inf for row in mean])
    default = names[int(np.argmin(panel_score))]
    rows = []
    for s in range(mean.shape[1]):
        scores = {m: mean[i, s] for i, m in enumerate(names) if np.isfinite(mean[i, s])}
        if not scores:
            rows.append(
                (
                    fallback,
                    None,
                    None,
                    None,
                    "no backtest actuals (new or short series): fallback",
                    "{}",
                )
            )
            continue
        ranked = sorted(scores, key=scores.get)
        best = ranked[0]
        d = scores.get(default)
        if d is None:
            chosen, reason = (
                best,
                f"lowest backtest MASE ({scores[best]:.3f}); {default} has no score",
            )
        elif best != default and scores[best] < (1 - margin) * d:
            chosen = best
            reason = (
                f"{best} beats the panel default {default} by "
                f"{100 * (1 - scores[best] / d):.0f}% ({scores[best]:.3f} vs {d:.3f})"
            )
        else:
            chosen = default
            reason = (
                f"panel default {default} ({d:.3f}); best alternative "
                f"{best if best != default else (ranked[1] if len(ranked) > 1 else '-')} "
                f"is not >{margin:.0%} better"
            )
        others = [m for m in ranked if m != chosen]
        runner = others[0] if others else None
        rows.append(
            (
                chosen,
                scores.get(chosen),
                runner,
                scores.get(runner) if runner else None,
                reason,
                json.dumps({m: round(float(v), 4) for m, v in scores.items()}),
            )
        )
    out = pd.DataFrame(
        rows, columns=["model", "score", "runner_up", "runner_up_score", "reason", "scores"]
    )
    out.attrs["default_model"] = default
    out.attrs["panel_scores"] = {m: float(v) for m, v in zip(names, panel_score, strict=True)}
    return out


def _nanmean0(a: np.ndarray) -> np.ndarray:
    mask = np.isfinite(a)
    count = mask.sum(axis=0)
    total = np.where(mask, a, 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
