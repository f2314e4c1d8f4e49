"""Model selection from backtest MASE, per segment, with the reasons kept.

Every series belongs to a segment (its volume class: smooth or intermittent). The model with the
lowest mean MASE over a segment's series and folds is that segment's choice; a segment with fewer
than ``min_segment_series`` scored series takes the panel-wide winner instead. Series without
backtest actuals (new or short) get the fallback model (the engine's new-series model,
``ml.models.launch``).

Why not each series' own best model: with a handful of folds, a series' own scores are noisy, and
picking the per-series minimum picks luck. On the London takeaway holdouts, letting series switch
to their own winner made bottom-level MASE worse at every margin we tried (0.902 → 0.930-0.963 at
28 days); switching to seasonal naive for intermittent items looked best in backtests and was
worst out of sample. ``series_margin`` still allows a switch, for a series whose own best model
wins on every fold *and* beats its segment's choice by more than the margin; it is off by default.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def select_models(
    series_mase: dict[str, np.ndarray],
    *,
    segments: np.ndarray | None = None,
    fallback: str = "weekday_mean",
    series_margin: float | None = None,
    min_segment_series: int = 10,
) -> pd.DataFrame:
    """``series_mase[model]`` is (n_folds, n_series); ``segments`` one label per series.

    Returns one row per series: model, score, runner_up, runner_up_score, segment, reason, scores
    (JSON of every model's mean MASE on that series).
    """
    names = list(series_mase)
    n_series = next(iter(series_mase.values())).shape[1]
    segments = np.asarray(segments if segments is not None else ["all"] * n_series, dtype=object)
    means = {m: _nanmean0(series_mase[m]) for m in names}  # model -> (n_series,)
    panel_scores = {m: _score(series_mase[m]) for m in names}
    panel_default = min(names, key=panel_scores.get)

    segment_choice: dict[str, tuple[str, str]] = {}
    for seg in pd.unique(segments):
        rows = segments == seg
        scored = int(np.isfinite(means[panel_default][rows]).sum())
        if scored >= min_segment_series:
            scores = {m: _score(series_mase[m][:, rows]) for m in names}
            best = min(names, key=scores.get)
            segment_choice[seg] = (
                best,
                f"best in segment {seg} ({scores[best]:.3f} mean MASE over {scored} series)",
            )
        else:
            segment_choice[seg] = (
                panel_default,
                f"panel-wide best ({panel_scores[panel_default]:.3f}); segment {seg} has only "
                f"{scored} scored series",
            )

    rows_out = []
    for s in range(n_series):
        scores = {m: float(means[m][s]) for m in names if np.isfinite(means[m][s])}
        seg = segments[s]
        if not scores:
            rows_out.append(
                (
                    fallback,
                    None,
                    None,
                    None,
                    seg,
                    f"no backtest actuals (new or short): fallback {fallback}",
                    "{}",
                )
            )
            continue
        chosen, reason = segment_choice[seg]
        if chosen not in scores:  # the segment's model could not be scored on this series
            chosen = min(scores, key=scores.get)
            reason = f"lowest own MASE; {segment_choice[seg][0]} has no score here"
        elif series_margin is not None:
            own = min(scores, key=scores.get)
            if own != chosen and _wins_everywhere(
                series_mase[own][:, s], series_mase[chosen][:, s], series_margin
            ):
                reason = (
                    f"{own} beats the segment's {chosen} on every fold and by "
                    f"{100 * (1 - scores[own] / scores[chosen]):.0f}% on average"
                )
                chosen = own
        others = sorted((m for m in scores if m != chosen), key=scores.get)
        runner = others[0] if others else None
        rows_out.append(
            (
                chosen,
                scores[chosen],
                runner,
                scores[runner] if runner else None,
                seg,
                reason,
                json.dumps({m: round(v, 4) for m, v in scores.items()}),
            )
        )
    out = pd.DataFrame(
        rows_out,
        columns=["model", "score", "runner_up", "runner_up_score", "segment", "reason", "scores"],
    )
    out.attrs["default_model"] = panel_default
    out.attrs["panel_scores"] = panel_scores
    out.attrs["segment_models"] = {str(k): v[0] for k, v in segment_choice.items()}
    return out


def _wins_everywhere(own: np.ndarray, chosen: np.ndarray, margin: float) -> bool:
    ok = np.isfinite(own) & np.isfinite(chosen)
    return bool(
        ok.sum() >= 2
        and (own[ok] < chosen[ok]).all()
        and own[ok].mean() < (1 - margin) * chosen[ok].mean()
    )


def _score(mase: np.ndarray) -> float:
    """Mean over the finite (fold, series) scores; inf when there are none."""
    finite = mase[np.isfinite(mase)]
    return float(finite.mean()) if finite.size else float("inf")


def _nanmean0(a: np.ndarray) -> np.ndarray:
    mask = np.isfinite(a)
    count = mask.sum(axis=0)
    total = np.where(mask, a, 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
