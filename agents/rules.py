"""The deterministic rules: the floor of every gate, run whether or not a model is asked.

``metric_gate`` fails closed: a run is published only when the evidence to publish it is there
and good — forecasts for every level and day, backtest scores, a seasonal-naive baseline it is not
worse than, calibrated intervals, and forecasts that add up (checked in the warehouse, not
assumed). ``stricter`` combines the rules' verdict with an agent's: the agent may tighten, never
loosen.
"""

from __future__ import annotations

import psycopg

from agents.schema import Verdict
from frycast.levels import FRYCAST_BOTTOM, FRYCAST_LEVELS, LEVEL_NAMES
from ml.models import served_model

BASELINE = "snaive"
BASELINE_SLACK = 1.05  # the served forecast may not be more than 5 % worse than seasonal naive
COVERAGE_RANGE = (0.6, 0.95)  # bottom-level 80 % interval coverage in backtests
PREVIOUS_SLACK = 2.0  # hold a run whose bottom MASE is twice the last published run's
MAX_FALLBACK_SHARE = 0.2  # of bottom series served by the fallback after their model failed
COHERENCE_TOL = 1e-6  # relative: an aggregate equals the sum of its bottom forecasts
LEVELS = list(LEVEL_NAMES)

# How strict each gate's verdicts are, loosest first. Roles not listed are advice, not gates.
STRICTNESS = {
    "data_quality": ("proceed", "proceed_with_warnings", "halt"),
    "metrics": ("publish", "hold"),
    "drift": ("keep", "retrain"),
}
SEVERITY = ("info", "warning", "critical")


def stricter(role: str, rules: str, agent: str | None) -> str:
    """The gate's verdict: the agent's where it is at least as strict as the rules', else the
    rules'. No agent verdict (offline, or it did not conclude): the rules'."""
    order = STRICTNESS.get(role)
    if agent is None:
        return rules
    if order is None:  # advice: the agent's word is the advice
        return agent
    return max(rules, agent, key=order.index)


def _coherence_sql() -> str:
    """Per aggregate level: nodes-days that differ from the sum of their bottom forecasts, and
    the largest relative gap. One scan of the bottom rows (grouping sets), joined on the key."""
    columns = sorted({c for _, cols in FRYCAST_LEVELS for c in cols})
    grouping = f"grouping({', '.join(columns)})"
    level_case, key_case, sets = [], [], []
    for name, cols in FRYCAST_LEVELS:
        mask = sum(1 << (len(columns) - 1 - i) for i, c in enumerate(columns) if c not in cols)
        key = f"concat_ws('/', {', '.join(cols)})" if cols else f"'{name}'"
        level_case.append(f"when {mask} then '{name}'")
        key_case.append(f"when {mask} then {key}")
        sets.append(f"({', '.join([*cols, 'forecast_date'])})")
    return f"""
        with served as (
            select level, node_key, forecast_date, yhat, {", ".join(columns)}
              from forecast.forecast_values where run_id = %(run)s and reconciled = %(rec)s
        ), sums as (
            select case {grouping} {" ".join(level_case)} end as level,
                   case {grouping} {" ".join(key_case)} end as node_key,
                   forecast_date, sum(yhat) as total
              from served where level = '{FRYCAST_BOTTOM[0]}'
             group by grouping sets ({", ".join(sets)})
        )
        select a.level,
               count(*) filter (where s.total is null
                                 or abs(a.yhat - s.total) > {COHERENCE_TOL}
                                    * greatest(abs(s.total), 1)) as off,
               max(abs(a.yhat - s.total) / greatest(abs(s.total), 1)) as max_gap
          from served a
          left join sums s using (level, node_key, forecast_date)
         where a.level <> '{FRYCAST_BOTTOM[0]}'
         group by a.level"""


def metric_gate(url: str, run_id: int) -> Verdict:
    """Publish only a complete, coherent run with backtest evidence that it is not worse than
    seasonal naive and whose bottom-level intervals are roughly calibrated; hold otherwise,
    including whenever a piece of that evidence is missing."""
    findings: list[dict] = []

    def hold(check: str, problem: str) -> None:
        findings.append({"check": check, "problem": problem, "severity": "critical"})

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select horizon_days, coalesce(config ->> 'reconciler', 'none'), config"
            " from forecast.forecast_runs where run_id = %s",
            (run_id,),
        ).fetchone()
        if row is None:
            return Verdict("metrics", "hold", f"held: run {run_id} does not exist", [])
        horizon, reconciler, config = row
        config = config or {}
        reconciled = reconciler != "none"
        served_name = served_model(reconciler)
        per_level = {
            level: (nodes, short, bad)
            for level, nodes, short, bad in conn.execute(
                """select level, count(*), count(*) filter (where n <> %s), sum(bad)
                     from (select level, node_key, count(*) as n,
                                  count(*) filter (where yhat is null or yhat < 0
                                                      or yhat = 'NaN') as bad
                             from forecast.forecast_values
                            where run_id = %s and reconciled = %s
                            group by level, node_key) x
                    group by level""",
                (horizon, run_id, reconciled),
            ).fetchall()
        }
        coherence = (
            conn.execute(_coherence_sql(), {"run": run_id, "rec": reconciled}).fetchall()
            if per_level
            else []
        )
        # every model on the (fold, series) pairs the served forecast was scored on, so the
        # baseline is compared on the same days; and how many series each could not score
        counts = {}
        scores = {}
        for model, avg, scored, unscored in conn.execute(
            """select b.model, avg(b.mase) filter (where s.mase is not null),
                      count(distinct b.node_key) filter (where b.mase is not null),
                      count(distinct b.node_key)
                        - count(distinct b.node_key) filter (where b.mase is not null)
                 from forecast.backtest_metrics b
                 left join forecast.backtest_metrics s
                   on s.run_id = b.run_id and s.level = b.level and s.node_key = b.node_key
                  and s.fold = b.fold and s.model = %(served)s
                where b.run_id = %(run)s and b.level = 'restaurant_sku'
                group by b.model""",
            {"run": run_id, "served": served_name},
        ).fetchall():
            if avg is not None:
                scores[model] = avg
            counts[model] = (scored, unscored)
        coverage = conn.execute(
            """select avg(coverage_80) from forecast.backtest_metrics
                where run_id = %s and level = 'restaurant_sku' and model = %s
                  and coverage_80 = coverage_80""",
            (run_id, served_name),
        ).fetchone()[0]
        last = conn.execute(
            """select run_id, coalesce(config ->> 'reconciler', 'none')
                 from forecast.forecast_runs where published and run_id <> %s
                order by run_id desc limit 1""",
            (run_id,),
        ).fetchone()
        previous = None
        if last is not None:
            previous = conn.execute(
                """select avg(mase) from forecast.backtest_metrics
                    where run_id = %s and level = 'restaurant_sku' and model = %s
                      and mase = mase""",
                (last[0], served_model(last[1])),
            ).fetchone()[0]

    if not per_level:
        hold("forecasts", "the run wrote no forecasts")
    else:
        missing = [lv for lv in LEVELS if lv not in per_level]
        if missing:
            hold("levels", f"no forecasts for level(s) {', '.join(missing)}")
        short = sum(s for _, s, _ in per_level.values())
        bad = sum(b or 0 for _, _, b in per_level.values())
        if short:
            hold("complete", f"{short} nodes lack days of the {horizon}-day horizon")
        if bad:
            hold("values", f"{bad} null, NaN or negative forecasts")
    for level, off, max_gap in coherence:
        if off:
            hold(
                "coherent",
                f"{off} {level} node-days differ from the sum of their bottom forecasts "
                f"(largest relative gap {f'{max_gap:.2g}' if max_gap is not None else 'n/a'})",
            )
    evaluation = config.get("evaluation")
    if not evaluation:
        hold("out_of_sample", "the run does not say whether its backtest scores are out of sample")
    elif not evaluation.get("out_of_sample"):
        hold("out_of_sample", f"no out-of-sample evidence: {evaluation.get('why')}")
    n_bottom = per_level.get(FRYCAST_BOTTOM[0], (0, 0, 0))[0]
    by_fallback = sum(
        int(f.get("series_served_by_fallback") or 0) for f in config.get("fallbacks", {}).values()
    )
    if n_bottom and by_fallback > MAX_FALLBACK_SHARE * n_bottom:
        hold(
            "fallbacks",
            f"{by_fallback} of {n_bottom} bottom series are served by the fallback because "
            "their chosen model could not forecast them",
        )
    served = scores.get(served_name)
    base = scores.get(BASELINE)
    if served is None:
        hold("backtest", f"no bottom-level backtest scores for the served model {served_name}")
    if base is None:
        hold("baseline", "no seasonal-naive backtest to compare with")
    if served is not None and base is not None and served > BASELINE_SLACK * base:
        hold("beats_baseline", f"backtest MASE {served:.3f} vs seasonal naive {base:.3f}")
    if previous is not None and served is not None and served > PREVIOUS_SLACK * previous:
        hold(
            "vs_previous",
            f"backtest MASE {served:.3f} vs {previous:.3f} for the last published run",
        )
    if coverage is None:
        hold("coverage", "no backtest coverage of the served intervals")
    elif not COVERAGE_RANGE[0] <= coverage <= COVERAGE_RANGE[1]:
        hold("coverage", f"80% interval coverage {coverage:.3f} in backtests")
    scored, unscored = counts.get(served_name, (0, 0))
    facts = (
        f"bottom MASE {served:.3f} over {scored} series ({unscored} unscored)"
        if served is not None
        else "no bottom MASE",
        f"seasonal naive {base:.3f}" if base is not None else "no seasonal naive",
        f"coverage {coverage:.3f}" if coverage is not None else "no coverage",
    )
    evidence = {
        "served_model": served_name,
        "forecasts_per_level": {
            level: {"nodes": n, "nodes_short_of_days": short, "bad_values": int(bad or 0)}
            for level, (n, short, bad) in per_level.items()
        },
        "coherence": {
            level: {"off": off, "max_gap": _rounded(gap, 9)} for level, off, gap in coherence
        },
        "bottom_mase": _rounded(served),
        "bottom_series_scored": scored,
        "bottom_series_unscored": unscored,
        "seasonal_naive_mase": _rounded(base),
        "last_published_mase": _rounded(previous),
        "bottom_coverage_80": _rounded(coverage),
        "bottom_series_on_fallback": by_fallback,
        "evaluation": evaluation,
    }
    if findings:
        return Verdict(
            "metrics",
            "hold",
            "held: " + "; ".join(f["problem"] for f in findings) + f" ({', '.join(facts)})",
            findings,
            facts=evidence,
        )
    return Verdict(
        "metrics",
        "publish",
        f"complete ({len(per_level)} levels) and coherent; " + ", ".join(facts),
        findings,
        facts=evidence,
    )


def _rounded(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def data_quality_gate(url: str, run_id: int) -> Verdict:
    """Deterministic rule: halt on any failed critical check; list every failure."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select source, check_name, table_name, severity, observed
                 from forecast.dq_results where run_id = %s and not success
                order by severity, source, check_name""",
            (run_id,),
        ).fetchall()
        total = conn.execute(
            "select count(*) from forecast.dq_results where run_id = %s", (run_id,)
        ).fetchone()[0]
    findings = [
        {"source": s, "check": c, "table": t, "severity": sev, "observed": o}
        for s, c, t, sev, o in rows
    ]
    critical = [f for f in findings if f["severity"] == "critical"]
    counts = {"checks": total, "failed": len(findings), "failed_critical": len(critical)}
    if critical:
        names = "; ".join(f"{f['check']} on {f['table']} ({f['observed']})" for f in critical[:5])
        return Verdict(
            "data_quality",
            "halt",
            f"{len(critical)} critical data-quality check(s) failed of {total}: {names}",
            findings,
            facts=counts,
        )
    return Verdict(
        "data_quality",
        "proceed",
        f"all {total} checks passed"
        if not findings
        else f"{len(findings)} warning(s) of {total} checks; no critical failure",
        findings,
        facts=counts,
    )
