"""What the pipeline takes from earlier reviews: the feature advisor's allow-listed advice.

The gates themselves (rules, agents, the audit trail) live in ``agents/``.
"""

from __future__ import annotations

import psycopg


def feature_advice(url: str) -> dict[str, dict]:
    """Model params from the feature advisor's allow-listed recommendations of the latest
    published run (only `windows` is applicable to the global models today; the others —
    lags, holiday windows, Fourier terms — are recorded and reported as not applied)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select r.recommended_actions from forecast.agent_reviews r
                where r.agent = 'features' and r.verdict = 'advise'
                  and r.run_id = (select max(run_id) from forecast.forecast_runs where published)
                order by r.review_id desc limit 1"""
        ).fetchone()
    windows: set[int] = set()
    for action in (row[0] if row and row[0] else []) or []:
        if isinstance(action, dict) and action.get("change") == "windows":
            values = action.get("value")
            if isinstance(values, str):  # the verdict schema's form: "7,14,28"
                values = values.replace(";", ",").split(",")
            for w in values if isinstance(values, list) else [values]:
                try:
                    windows.add(int(w))
                except (TypeError, ValueError):
                    continue
    if not windows:
        return {}
    params = {"extra_windows": sorted(windows)}
    return {"lightgbm": dict(params), "xgboost": dict(params)}
