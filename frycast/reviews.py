"""Gate reviews: the deterministic metric gate, and where every gate's verdict is recorded.

The agents issue replaces the rule inside each gate with a Claude agent; the verdict's shape
(``quality.Verdict``) and the table it lands in (``forecast.agent_reviews``) stay.
"""

from __future__ import annotations

import json

import psycopg

from frycast.quality import Verdict

BASELINE = "snaive"
BASELINE_SLACK = 1.05  # the served forecast may not be more than 5 % worse than seasonal naive
COVERAGE_RANGE = (0.6, 0.95)  # bottom-level 80 % interval coverage in backtests


def record_verdict(url: str, run_id: int, verdict: Verdict, model: str = "rules") -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """insert into forecast.agent_reviews
               (run_id, agent, verdict, summary, findings, model, offline, severity,
                recommended_actions)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (run_id, agent) do update
               set verdict = excluded.verdict, summary = excluded.summary,
                   findings = excluded.findings, model = excluded.model,
                   offline = excluded.offline, severity = excluded.severity,
                   recommended_actions = excluded.recommended_actions, created_at = now()""",
            (
                run_id,
                verdict.gate,
                verdict.verdict,
                verdict.summary,
                json.dumps(verdict.findings, default=str),
                model,
                verdict.offline,
                verdict.severity,
                json.dumps(verdict.recommended_actions, default=str),
            ),
        )


def metric_gate(url: str, run_id: int) -> Verdict:
    """Publish only a complete, coherent run that is not worse than the seasonal naive baseline
    in its own backtests and whose bottom-level intervals are roughly calibrated."""
    findings: list[dict] = []
    with psycopg.connect(url) as conn:
        horizon, reconciler = conn.execute(
            "select horizon_days, coalesce(config ->> 'reconciler', 'none')"
            " from forecast.forecast_runs where run_id = %s",
            (run_id,),
        ).fetchone()
        reconciled = reconciler != "none"
        served_model = reconciler if reconciled else "selected"
        incomplete, bad_values = conn.execute(
            """select count(*) filter (where n <> %s), coalesce(sum(bad), 0)
                 from (select node_key, count(*) as n,
                              count(*) filter (where yhat is null or yhat < 0 or yhat = 'NaN')
                              as bad
                         from forecast.forecast_values
                        where run_id = %s and reconciled = %s
                        group by level, node_key) x""",
            (horizon, run_id, reconciled),
        ).fetchone()
        if incomplete:
            findings.append({"check": "complete", "problem": f"{incomplete} nodes lack days"})
        if bad_values:
            findings.append({"check": "values", "problem": f"{bad_values} null/negative yhat"})
        scores = dict(
            conn.execute(
                """select model, avg(mase) from forecast.backtest_metrics
                    where run_id = %s and level = 'restaurant_sku' and mase = mase
                    group by model""",
                (run_id,),
            ).fetchall()
        )
        coverage = conn.execute(
            """select avg(coverage_80) from forecast.backtest_metrics
                where run_id = %s and level = 'restaurant_sku' and model = %s""",
            (run_id, served_model if reconciled else "selected"),
        ).fetchone()[0]
    served = scores.get(served_model) or scores.get("selected")
    base = scores.get(BASELINE)
    if served is not None and base is not None and served > BASELINE_SLACK * base:
        findings.append(
            {
                "check": "beats_baseline",
                "problem": f"backtest MASE {served:.3f} vs seasonal naive {base:.3f}",
            }
        )
    if coverage is not None and not COVERAGE_RANGE[0] <= coverage <= COVERAGE_RANGE[1]:
        findings.append(
            {"check": "coverage", "problem": f"80% interval coverage {coverage:.3f} in backtests"}
        )
    facts = (
        f"bottom MASE {served:.3f}" if served is not None else "no bottom MASE",
        f"seasonal naive {base:.3f}" if base is not None else "no seasonal naive",
        f"coverage {coverage:.3f}" if coverage is not None else "no coverage",
    )
    if findings:
        return Verdict(
            "metrics",
            "hold",
            "held: " + "; ".join(f["problem"] for f in findings) + f" ({', '.join(facts)})",
            findings,
        )
    return Verdict("metrics", "publish", "complete and coherent; " + ", ".join(facts), findings)


def feature_advice(url: str) -> dict[str, dict]:
    """Model params from the feature advisor's allow-listed recommendations of the latest
    published run (only `windows` is applicable to the global models today; the others —
    lags, holiday windows, Fourier terms — are recorded and reported as not applied)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """select r.recommended_actions from forecast.agent_reviews r
                where r.agent = 'features' and r.verdict = 'advise'
                  and r.run_id = (select max(run_id) from forecast.forecast_runs where published)"""
        ).fetchone()
    windows: set[int] = set()
    for action in (row[0] if row and row[0] else []) or []:
        if isinstance(action, dict) and action.get("change") == "windows":
            values = action.get("value")
            for w in values if isinstance(values, list) else [values]:
                try:
                    windows.add(int(w))
                except (TypeError, ValueError):
                    continue
    if not windows:
        return {}
    params = {"extra_windows": sorted(windows)}
    return {"lightgbm": dict(params), "xgboost": dict(params)}
