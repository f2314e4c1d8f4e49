"""Planners' overrides on a real published run (a small seeded chain, the pipeline under Prefect's
test harness, real Postgres): the planner login inserts and nothing else; overrides are refused
when they overlap; each kind holds on a bottom, a middle and the top node, the served forecast
still adds up and stays non-negative; nested overrides both hold; an infeasible pair is
rejected with both named; an expired override is not applied by the next run; the CLI."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from cli.main import app
from flows.pipeline import forecast_pipeline
from frycast.levels import FRYCAST_LEVELS
from ingest.seed import seed
from tests.conftest import _clone, _drop, _with_db, query, scalar
from tests.ml.conftest import TINY
from warehouse.db import OWNER, PLANNER, login_url, planner_url
from warehouse.dbt import run_dbt
from warehouse.forecast_store import published_run
from warehouse.overrides_io import OverrideRefused, add_override, apply_to_run

CHEAP = {"folds": 3, "fold_horizon": 28, "models": ["snaive", "weekday_mean"]}
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def served(server_url, template_db, tmp_path_factory):
    """A published, reconciled run of the tiny chain; yields (owner URL, run id, first day)."""
    name = _clone(server_url, template_db, "frycast_ovr")
    url = _with_db(server_url, name)
    seed(url, TINY)
    mp = pytest.MonkeyPatch()
    mp.setenv("FRYCAST_MLFLOW_ARTIFACTS", tmp_path_factory.mktemp("mlartifacts").as_uri())
    mp.setenv("FRYCAST_SNAPSHOTS", "off")
    from frycast.settings import get_settings

    get_settings.cache_clear()
    owner = login_url(url, OWNER)
    with prefect_test_harness(server_startup_timeout=120):
        forecast_pipeline(url=owner, **CHEAP)
    run_id = published_run(owner)
    first = scalar(owner, "select history_end + 1 from forecast.forecast_runs where run_id = %s",
                   (run_id,))  # fmt: skip
    yield owner, run_id, first
    mp.undo()
    get_settings.cache_clear()
    _drop(server_url, name)


@pytest.fixture
def cli(served, monkeypatch):
    """`frycast …` in this process against the test's warehouse (the settings read again)."""
    from frycast.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", served[0])
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


@pytest.fixture
def clean(served):
    """Each test starts with no override in force (earlier ones retired, the run re-applied)."""
    owner, run_id, _ = served
    for (oid,) in query(owner, "select override_id from planning.current_overrides"):
        add_override(planner_url(owner), **_retiring(owner, oid))
    apply_to_run(owner, run_id)
    return served


def _retiring(owner: str, oid: int) -> dict:
    (row,) = query(
        owner,
        "select level, node_key, date_from, date_to, kind, value from planning.overrides"
        " where override_id = %s",
        (oid,),
    )
    keys = ("level", "node_key", "date_from", "date_to", "kind", "value")
    return dict(zip(keys, row, strict=True), reason="test over", author="tests",
                supersedes=oid, status="retired")  # fmt: skip


def _add(owner, level, key, start, days, kind, value, **extra) -> int:
    add_override(
        planner_url(owner), level=level, node_key=key, date_from=start,
        date_to=start + timedelta(days=days - 1), kind=kind, value=value,
        reason=extra.pop("reason", "a local fair"), author=extra.pop("author", "ana"), **extra,
    )  # fmt: skip
    return scalar(owner, "select max(override_id) from planning.overrides")


def _node(owner, run_id, level) -> str:
    return scalar(
        owner,
        "select min(node_key) from forecast.forecast_values where run_id = %s and level = %s",
        (run_id, level),
    )


def _served_rows(owner, level, key, start, days):
    return query(
        owner,
        """select forecast_date, yhat, yhat_statistical, is_adjusted, is_overridden, yhat_lo80,
                  yhat_hi80 from marts.fct_forecast
            where level = %s and node_key = %s and forecast_date between %s and %s
            order by forecast_date""",
        (level, key, start, start + timedelta(days=days - 1)),
    )


def _assert_coherent_and_non_negative(owner, start, days):
    """Every aggregate of the served forecast equals the sum of its bottom rows, every day of
    the range, and nothing is negative."""
    end = start + timedelta(days=days - 1)
    assert scalar(owner, "select count(*) from marts.fct_forecast where yhat < 0") == 0
    for level, cols in FRYCAST_LEVELS:
        key = "concat_ws('/', " + ", ".join(cols) + ")" if cols else "'chain'"
        gap = scalar(
            owner,
            f"""with bottom as (
                    select {key} as node_key, forecast_date, sum(yhat) as total
                      from marts.fct_forecast where level = 'restaurant_sku'
                       and forecast_date between %s and %s group by 1, 2)
                select coalesce(max(abs(a.yhat - b.total) / greatest(b.total, 1)), 0)
                  from marts.fct_forecast a join bottom b using (node_key, forecast_date)
                 where a.level = %s""",
            (start, end, level),
        )
        assert gap < TOLERANCE, (level, gap)


def test_the_planner_login_inserts_overrides_and_nothing_else(clean):
    owner, run_id, first = clean
    planner = planner_url(owner)
    _add(owner, "chain", "chain", first, 1, "scale", 1.1)
    with psycopg.connect(planner) as conn:
        info = conn.execute(
            "select rolsuper, rolinherit from pg_roles where rolname = current_user"
        )
        assert (
            info.fetchone() == (False, False)
            and conn.info.parameter_status("is_superuser") == "off"
        )
    refused = [
        "select * from planning.overrides",
        "update planning.overrides set value = 0",
        "delete from planning.overrides",
        "insert into planning.overrides (level, node_key, date_from, date_to, kind, value, reason,"
        " author, login) values ('chain', 'chain', current_date, current_date, 'scale', 1, 'x',"
        " 'x', 'someone_else')",
        "select * from marts.fct_forecast",
        "select * from forecast.forecast_runs",
        "update forecast.forecast_runs set published = true",
        "insert into forecast.adjusted_values (run_id) values (1)",
        "create table planning.probe (a int)",
        "create table public.probe (a int)",
        "select pg_advisory_lock(727001)",
    ]
    for statement in refused:
        with psycopg.connect(planner) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    # what it inserted carries its login and the server's time, whatever it sent
    assert query(
        owner, "select login, author from planning.overrides order by override_id desc limit 1"
    ) == [(PLANNER, "ana")]


def test_an_override_overlapping_another_on_its_node_is_refused_naming_both(clean):
    owner, run_id, first = clean
    oid = _add(owner, "chain", "chain", first, 7, "scale", 1.2)
    with pytest.raises(OverrideRefused) as info:
        _add(owner, "chain", "chain", first + timedelta(days=3), 7, "set_daily", 500.0)
    said = str(info.value)
    assert f"overlaps override {oid} (chain chain {first}.." in said and "by ana" in said
    assert "the new override (chain chain" in said
    # a change supersedes it (the history keeps both rows), a retirement ends it
    new = _add(owner, "chain", "chain", first, 7, "scale", 1.3, supersedes=oid)
    with pytest.raises(OverrideRefused, match="already changed or retired"):
        _add(owner, "chain", "chain", first, 7, "scale", 1.4, supersedes=oid)
    assert query(owner, "select override_id from planning.current_overrides") == [(new,)]
    # append-only, even for the owner
    with psycopg.connect(owner) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("update planning.overrides set value = 9 where override_id = %s", (new,))


@pytest.mark.parametrize("level", ["restaurant_sku", "restaurant", "chain"])
@pytest.mark.parametrize("kind", ["set_total", "scale", "set_daily"])
def test_each_kind_holds_on_the_node_and_the_forecast_still_adds_up(clean, level, kind):
    owner, run_id, first = clean
    key = _node(owner, run_id, level)
    start, days = first + timedelta(days=10), 7
    before = _served_rows(owner, level, key, start, days)
    statistical = [r[2] for r in before]
    value = {"set_total": 1.5 * sum(statistical), "scale": 0.6, "set_daily": 3 + max(statistical)}
    oid = _add(owner, level, key, start, days, kind, value[kind])
    app = apply_to_run(owner, run_id)
    outcome = app.outcomes.set_index("override_id").loc[oid]
    assert outcome.applied and outcome.days == days, outcome.message
    rows = _served_rows(owner, level, key, start, days)
    served = [r[1] for r in rows]
    if kind == "set_total":
        assert sum(served) == pytest.approx(value[kind], rel=TOLERANCE)
    elif kind == "scale":
        assert served == pytest.approx([0.6 * s for s in statistical], rel=TOLERANCE)
    else:
        assert served == pytest.approx([value[kind]] * days, rel=TOLERANCE)
    assert all(r[3] and r[4] for r in rows)  # adjusted, and held by the override
    assert [r[2] for r in rows] == statistical  # the statistical forecast beside it, unchanged
    # the band moved with it (scaled where the statistical forecast was positive)
    for (_, yhat, stat, *_, lo, hi), old in zip(rows, before, strict=True):
        if stat > 0:
            assert lo == pytest.approx(old[5] * yhat / stat, rel=1e-6)
            assert hi == pytest.approx(old[6] * yhat / stat, rel=1e-6)
    _assert_coherent_and_non_negative(owner, start, days)
    # days outside the range are the statistical forecast
    outside = scalar(
        owner,
        "select count(*) from marts.fct_forecast where is_adjusted and forecast_date not between"
        " %s and %s",
        (start, start + timedelta(days=days - 1)),
    )
    assert outside == 0


def test_overrides_on_nested_nodes_both_hold(clean):
    owner, run_id, first = clean
    restaurant = _node(owner, run_id, "restaurant")
    start = first + timedelta(days=20)
    chain_total = sum(r[2] for r in _served_rows(owner, "chain", "chain", start, 5))
    item = scalar(
        owner,
        "select min(node_key) from forecast.forecast_values where run_id = %s"
        " and level = 'restaurant_sku' and restaurant_id = %s",
        (run_id, restaurant),
    )
    a = _add(owner, "chain", "chain", start, 5, "set_total", 1.2 * chain_total)
    b = _add(owner, "restaurant", restaurant, start, 5, "scale", 1.5)
    c = _add(owner, "restaurant_sku", item, start + timedelta(days=1), 2, "set_daily", 4.0)
    app = apply_to_run(owner, run_id)
    assert app.outcomes.set_index("override_id").loc[[a, b, c], "applied"].all()
    assert sum(r[1] for r in _served_rows(owner, "chain", "chain", start, 5)) == pytest.approx(
        1.2 * chain_total, rel=TOLERANCE
    )
    rows = _served_rows(owner, "restaurant", restaurant, start, 5)
    assert [r[1] for r in rows] == pytest.approx([1.5 * r[2] for r in rows], rel=TOLERANCE)
    held = _served_rows(owner, "restaurant_sku", item, start + timedelta(days=1), 2)
    assert [r[1] for r in held] == pytest.approx([4.0, 4.0], rel=TOLERANCE)
    _assert_coherent_and_non_negative(owner, start, 5)


def test_an_infeasible_pair_is_rejected_with_both_named_and_the_rest_holds(clean, cli):
    owner, run_id, first = clean
    restaurant = _node(owner, run_id, "restaurant")
    start = first + timedelta(days=30)
    big = _add(owner, "restaurant", restaurant, start, 3, "set_daily", 900.0)
    small = _add(owner, "chain", "chain", start, 3, "set_daily", 100.0, author="ben")
    other = _add(owner, "chain", "chain", start + timedelta(days=5), 2, "scale", 1.1)
    out = apply_to_run(owner, run_id).outcomes.set_index("override_id")
    assert not out.loc[big, "applied"] and not out.loc[small, "applied"]
    assert f"override {small} (chain chain" in out.loc[big, "message"]
    assert f"override {big} (restaurant {restaurant}" in out.loc[small, "message"]
    assert "rejected: cannot hold together" in out.loc[big, "message"]
    assert out.loc[other, "applied"]
    # the rejected ones left the served forecast alone on their days
    rows = _served_rows(owner, "chain", "chain", start, 3)
    assert all(not r[3] for r in rows) and all(r[1] == r[2] for r in rows)
    # the CLI says so before saving, naming the override it clashes with
    said = cli(
        "override", "add", "--node", f"restaurant:{restaurant}", "--from",
        str(start + timedelta(days=5)), "--to", str(start + timedelta(days=6)),
        "--set-daily", "100000", "--reason", "a stadium concert",
    )  # fmt: skip
    assert said.exit_code == 1 and f"override {other} (chain chain" in said.output, said.output
    assert scalar(owner, "select count(*) from planning.overrides where value = 100000") == 0


def test_an_expired_override_is_not_applied_by_the_next_run(clean):
    owner, run_id, first = clean
    start = first + timedelta(days=40)
    lasting = _add(owner, "chain", "chain", start, 3, "scale", 1.25)
    ending = _add(
        owner, "chain", "chain", start + timedelta(days=5), 3, "scale", 0.5,
        expires_on=date.today() + timedelta(days=1),
    )  # fmt: skip
    held = apply_to_run(owner, run_id).outcomes.set_index("override_id")
    assert held.loc[[lasting, ending], "applied"].all()
    # WHEN a run applies them after the expiry
    later = apply_to_run(owner, run_id, as_of=date.today() + timedelta(days=2))
    out = later.outcomes.set_index("override_id")
    # THEN the expired one is not applied and says why; the other still holds
    assert not out.loc[ending, "applied"] and "expired on" in out.loc[ending, "message"]
    assert out.loc[lasting, "applied"]
    rows = _served_rows(owner, "chain", "chain", start + timedelta(days=5), 3)
    assert all(not r[3] for r in rows)
    assert all(r[1] == pytest.approx(1.25 * r[2]) for r in _served_rows(
        owner, "chain", "chain", start, 3))  # fmt: skip


def test_a_new_run_reapplies_the_overrides_in_force_to_its_own_forecast(clean):
    owner, run_id, first = clean
    start = first + timedelta(days=50)
    oid = _add(owner, "chain", "chain", start, 4, "scale", 1.5)
    with prefect_test_harness(server_startup_timeout=120):
        result = forecast_pipeline(url=owner, **CHEAP)
    new_run = result["run_id"]
    assert new_run != run_id and published_run(owner) == new_run
    (held,) = query(
        owner,
        """select o.applied, o.days from forecast.override_outcomes o
             join forecast.override_applications a using (application_id)
            where a.run_id = %s and o.override_id = %s""",
        (new_run, oid),
    )
    assert held == (True, 4)
    rows = _served_rows(owner, "chain", "chain", start, 4)
    assert all(r[1] == pytest.approx(1.5 * r[2]) for r in rows)


def test_frycast_override_add_list_and_retire(clean, cli):
    owner, run_id, first = clean
    start = first + timedelta(days=60)
    added = cli(
        "override", "add", "--node", "chain", "--from", str(start), "--to",
        str(start + timedelta(days=2)), "--set-total", "5000", "--reason", "a marketing push",
        "--author", "cleo",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "saved: chain chain" in added.output and "override(s) held" in added.output
    assert run_dbt(["run", "--select", "fct_overrides"], owner).success
    listed = cli("override", "list")
    assert (
        listed.exit_code == 0
        and "a marketing push" in listed.output
        and "in force" in listed.output
    )
    oid = scalar(owner, "select max(override_id) from planning.overrides")
    retired = cli("override", "retire", str(oid), "--reason", "cancelled")
    assert retired.exit_code == 0, retired.output
    assert query(owner, "select state from marts.fct_overrides where override_id = %s", (oid,)) == [
        ("retired",)
    ]
    one_day = ["--from", str(start), "--to", str(start), "--scale", "2", "--reason", "x"]
    bad = cli("override", "add", "--node", "store:R1", *one_day)
    assert bad.exit_code != 0 and "give LEVEL:KEY" in bad.output
    unknown = cli("override", "add", "--node", "restaurant:R9999", *one_day)
    assert unknown.exit_code == 1 and "is not in the served forecast" in unknown.output
