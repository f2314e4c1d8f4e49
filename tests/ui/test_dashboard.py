"""The dashboard on a warehouse filled by a small pipeline run: every page through Streamlit's
AppTest (no exceptions, the right numbers), then every page in headless Chromium."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import psycopg
import pytest
import streamlit as st
from prefect.testing.utilities import prefect_test_harness
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from flows.pipeline import forecast_pipeline
from frycast.settings import get_settings, kept_environ
from ingest.seed import seed
from streamlit_app.serve import running_app
from tests.conftest import _clone, _drop, _with_db, query, scalar
from tests.ml.conftest import TINY
from tests.ui.conftest import CHROMIUM, SHOTS, dashboard_reads, page

CHEAP = {"folds": 3, "fold_horizon": 28, "models": ["snaive", "weekday_mean", "lightgbm"]}


@pytest.fixture(scope="module")
def warehouse(server_url, template_db, tmp_path_factory):
    name = _clone(server_url, template_db, "frycast_ui")
    url = _with_db(server_url, name)
    seed(url, TINY)
    artifacts = tmp_path_factory.mktemp("mlartifacts").as_uri()
    with kept_environ([], {"FRYCAST_MLFLOW_ARTIFACTS": artifacts}):
        get_settings.cache_clear()
        with prefect_test_harness(server_startup_timeout=120):
            forecast_pipeline(url=url, **CHEAP)
        with dashboard_reads(url):  # the dashboard reads the configured warehouse
            yield url
    get_settings.cache_clear()
    _drop(server_url, name)


@pytest.fixture
def downloads(monkeypatch):
    """The bytes behind an AppTest download button: AppTest drops its in-memory media store
    after each run, so keep each one it makes and read the button's file from the latest."""
    stores = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", Kept)
    return lambda button: stores[-1].get_file(button.proto.url.rsplit("/", 1)[-1]).content


def test_overview_shows_the_published_run_and_its_accuracy(warehouse):
    at = page("overview")
    run_id, mase = query(
        warehouse,
        """select run_id, avg(mase) from marts.fct_forecast_accuracy
            where published and level = 'restaurant_sku'
              and model = (select config ->> 'reconciler' from forecast.forecast_runs r
                            where r.run_id = fct_forecast_accuracy.run_id)
            group by run_id""",
    )[0]
    assert f"Published run {run_id}" in at.caption[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Backtest MASE (restaurant × SKU)"] == f"{mase:.3f}"
    total = scalar(warehouse, "select sum(yhat) from marts.fct_forecast where level = 'region'")
    regions = at.dataframe[0].value
    assert regions["next_12_months"].sum() == pytest.approx(total, rel=1e-3)
    assert "data_quality" in " ".join(m.value for m in at.markdown)


def test_the_explorer_shows_the_chosen_nodes_forecast(warehouse):
    at = page("explorer")
    shown = at.dataframe[0].value
    chain = query(
        warehouse,
        "select yhat from marts.fct_forecast where level = 'chain' order by forecast_date",
    )
    assert shown["yhat"].tolist() == pytest.approx([r[0] for r in chain])
    at.selectbox[0].select("restaurant").run()
    assert not at.exception
    node = at.selectbox[1].value
    first = scalar(
        warehouse,
        "select yhat from marts.fct_forecast where level = 'restaurant' and node_key = %s"
        " order by forecast_date limit 1",
        (node,),
    )
    assert at.dataframe[0].value["yhat"].iloc[0] == pytest.approx(first)


def test_the_explorer_switches_grain_and_downloads_the_shown_table(warehouse, downloads):
    at = page("explorer")
    days = at.dataframe[0].value
    assert {"yhat_lo80", "yhat_hi80", "units_last_year", "vs_last_year_pct"} <= set(days.columns)
    # last year: the chain's actuals in the marts 364 days (52 weeks) before the first day
    first = pd.Timestamp(days["date"].iloc[0])
    ly = scalar(
        warehouse,
        "select sum(units) from marts.fct_daily_sales where sale_date = %s",
        ((first - pd.Timedelta(days=364)).date(),),
    )
    assert ly and days["units_last_year"].iloc[0] == pytest.approx(float(ly))
    yhat = days["yhat"].iloc[0]
    assert days["vs_last_year_pct"].iloc[0] == pytest.approx(round(100 * (yhat / ly - 1), 1))
    assert '"units_last_year"' in at.get("vega_lite_chart")[0].proto.spec  # the chart's line
    for grain in ("Week", "Month"):
        at.radio[0].set_value(grain).run()
        assert not at.exception, [e.message for e in at.exception]
        shown = at.dataframe[0].value
        starts = pd.to_datetime(shown["date"])
        full = 7 if grain == "Week" else starts.dt.days_in_month
        # one row per week or month the days touch, and no band columns at these grains
        periods = pd.to_datetime(days["date"]).dt.to_period("W-SUN" if grain == "Week" else "M")
        assert len(shown) == periods.nunique() < len(days)
        assert "yhat_lo80" not in shown.columns and "yhat_hi80" not in shown.columns
        assert (starts.dt.weekday == 0).all() if grain == "Week" else (starts.dt.day == 1).all()
        # every day counted once, cut periods flagged, the totals those of the days
        assert shown["days"].sum() == len(days)
        assert (shown["partial"] == (shown["days"] < full)).all()
        assert shown["partial"].iloc[0] == (starts.iloc[0] != first)
        assert shown["yhat"].sum() == pytest.approx(days["yhat"].sum())
        assert any("band is shown at day grain only" in c.value for c in at.caption)
    # both downloads hold the table shown (at month grain)
    csv_button, xlsx_button = at.download_button
    assert "(CSV)" in csv_button.label and "(Excel)" in xlsx_button.label
    csv = pd.read_csv(io.BytesIO(downloads(csv_button)))
    assert list(csv.columns) == list(shown.columns)
    assert csv["yhat"].tolist() == pytest.approx(shown["yhat"].tolist())
    rows = list(openpyxl.load_workbook(io.BytesIO(downloads(xlsx_button))).active.values)
    assert list(rows[0]) == list(shown.columns) and len(rows) == 1 + len(shown)
    col = rows[0].index("yhat")
    assert [r[col] for r in rows[1:]] == pytest.approx(shown["yhat"].tolist())


def test_accuracy_data_quality_agents_drift_and_runs_render(warehouse):
    acc = page("accuracy")
    board = acc.dataframe[0].value
    assert {"mase", "series_scored", "series_unscored"} <= set(board.columns)
    # the page says whether the figures are out of sample (the warehouse's run says they are)
    assert any("Out of sample" in c.value for c in acc.caption), [c.value for c in acc.caption]
    dq = page("data_quality")
    checks = {m.label: m.value for m in dq.metric}["Checks"]
    assert int(checks) == scalar(warehouse, "select count(*) from forecast.dq_results")
    agents = page("agents")
    assert any("data_quality: proceed" in e.label for e in agents.expander)
    (usage,) = [d.value for d in agents.dataframe if "cost_usd" in d.value.columns]
    # offline reviews: nothing sent, so no cost (unknown would be null too, never a made-up 0)
    assert usage["requests"].eq(0).all() and usage["cost_usd"].isna().all()
    drift = page("drift")
    assert drift.info  # no drift check yet: says so
    runs = page("runs")
    shown = runs.dataframe[0].value
    assert len(shown) == scalar(warehouse, "select count(*) from forecast.forecast_runs")
    # each run says how many backtest folds it used of those asked, and what failed
    assert {"backtest_folds", "folds_note", "failed_fits", "evidence"} <= set(shown.columns)
    assert shown.iloc[0]["evidence"].startswith("out of sample: folds 0")
    used = scalar(
        warehouse,
        "select (config -> 'folds_used' ->> 'used') || ' of ' || (config -> 'folds_used' ->> "
        "'asked') from forecast.forecast_runs order by run_id desc limit 1",
    )
    assert used is not None and shown.iloc[0]["backtest_folds"] == used


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_every_page_renders_real_data_in_headless_chromium(warehouse):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    expected = {
        "": "Published run",
        "explorer": "Download this table (Excel)",
        "adjust": "Overrides in force",
        "accuracy": "Backtest leaderboard",
        "data_quality": "Rejected lines from imports",
        "agents": "Event timeline",
        "drift": "No drift check",
        "runs": "dbt docs",
    }
    with running_app(warehouse, SHOTS / "streamlit.log") as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path, text in expected.items():
            page.goto(f"http://127.0.0.1:{port}/{path}")
            page.get_by_text(text).first.wait_for(timeout=60_000)
            # the script has finished (no "Running…" status) before the screenshot
            page.wait_for_selector(
                "[data-testid='stStatusWidget']", state="detached", timeout=60_000
            )
            assert page.locator("[data-testid='stException']").count() == 0, path
            page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)
        # the explorer at week grain: the rerun finishes with the week caption, no exception
        page.goto(f"http://127.0.0.1:{port}/explorer")
        page.locator("[data-testid='stRadio']").get_by_text("Week", exact=True).click()
        page.get_by_text("Week totals (Monday to Sunday)").wait_for(timeout=60_000)
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0, "explorer, Week"
        page.screenshot(path=str(SHOTS / "explorer_week.png"), full_page=True)
        # a planner adjusts the chain: enter, preview, save; once applied, the explorer shows it
        page.goto(f"http://127.0.0.1:{port}/adjust")
        page.get_by_text("Preview", exact=True).wait_for(timeout=60_000)
        page.get_by_text("Scale the forecast by a factor").click()
        page.get_by_text("this node").first.wait_for(timeout=60_000)
        reason = page.get_by_label("Reason (a local event, road works, a marketing push)")
        reason.fill("a televised final")
        reason.press("Enter")
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved: chain chain").wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "adjust_saved.png"), full_page=True)
        try:
            _apply(warehouse)
            # the app caches a node's adjustment for 30 s: reload until it shows
            shown = page.get_by_text("Planners' overrides adjust this node")
            for _ in range(12):
                page.goto(f"http://127.0.0.1:{port}/explorer")
                page.get_by_text("Download this table (Excel)").wait_for(timeout=60_000)
                if shown.count():
                    break
                page.wait_for_timeout(5_000)
            shown.wait_for(timeout=5_000)
            page.screenshot(path=str(SHOTS / "explorer_adjusted.png"), full_page=True)
        finally:
            _retire_all(warehouse)
        browser.close()


def _apply(url: str) -> None:
    """What `frycast serve` does every few minutes: the overrides applied to the served run."""
    from warehouse.forecast_store import published_run
    from warehouse.overrides_io import apply_to_run

    apply_to_run(url, published_run(url))
    st.cache_data.clear()


def _retire_all(url: str) -> None:
    from warehouse.db import planner_url
    from warehouse.overrides_io import add_override

    for row in query(
        url,
        "select override_id, level, node_key, date_from, date_to, kind, value"
        " from planning.current_overrides",
    ):
        oid, level, key, start, end, kind, value = row
        add_override(
            planner_url(url), level=level, node_key=key, date_from=start, date_to=end,
            kind=kind, value=value, reason="test over", author="tests", supersedes=oid,
            status="retired",
        )  # fmt: skip
    _apply(url)


def test_the_adjust_page_previews_saves_and_the_explorer_shows_it(warehouse):
    at = page("adjust")
    at.radio[0].set_value("Scale the forecast by a factor").run()
    at.number_input[0].set_value(1.2).run()
    assert not at.exception, [e.message for e in at.exception]
    # the preview: the chain held at 1.2 x its statistical forecast, the regions inside it
    # reconciled around it (and adding up to it)
    effect = at.dataframe[0].value
    this = effect[effect["role"] == "this node"].iloc[0]
    assert this["adjusted"] == pytest.approx(1.2 * this["statistical"], rel=1e-6)
    inside = effect[effect["role"] == "inside it"]
    assert len(inside) and inside["adjusted"].sum() == pytest.approx(this["adjusted"], rel=1e-6)
    save = next(b for b in at.button if b.label == "Save")
    assert save.disabled  # no reason yet
    at.text_input[1].input("a televised final").run()
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("Saved: chain chain" in m.value for m in at.success), [m.value for m in at.error]
    try:
        # saved through the planner login, with the planner's name and reason
        assert query(
            warehouse,
            "select login, reason, kind, value from planning.overrides order by override_id desc"
            " limit 1",
        ) == [("frycast_planner", "a televised final", "scale", 1.2)]
        _apply(warehouse)
        explorer = page("explorer")
        assert any("Planners' overrides adjust this node on 7 day(s)" in i.value
                   for i in explorer.info), [i.value for i in explorer.info]  # fmt: skip
        # the overrides in force (the preview above it may be absent: the default range now
        # overlaps the saved override, which the page refuses to preview)
        (listed,) = [d.value for d in page("adjust").dataframe if "in_served_forecast" in d.value]
        assert listed["in_served_forecast"].tolist() == ["held"]
    finally:
        _retire_all(warehouse)


def _open_node(level: str, node: str) -> AppTest:
    at = page("explorer")
    at.selectbox[0].select(level).run()
    at.text_input[0].input(node).run()
    at.selectbox[1].select(node).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_explorer_says_why_a_forecast_is_what_it_is(warehouse):
    from ml.models import RULES

    # a node a global model serves: its first month's drivers, adding up to the model's units
    level, node, units = query(
        warehouse,
        "select level, node_key, model_units from marts.fct_forecast_drivers"
        " where is_base order by level, node_key, month limit 1",
    )[0]
    at = _open_node(level, node)
    assert any(f"{units:,.0f} units = the base" in c.value for c in at.caption)
    # a node without drivers (here: its rows taken away) gets its model's rule instead
    rows = query(
        warehouse,
        "select * from forecast.forecast_drivers where level = %s and node_key = %s",
        (level, node),
    )
    model = query(
        warehouse,
        "select distinct coalesce(base_model, model) from marts.fct_forecast"
        " where level = %s and node_key = %s",
        (level, node),
    )[0][0]
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "delete from forecast.forecast_drivers where level = %s and node_key = %s",
            (level, node),
        )
        try:
            st.cache_data.clear()  # the dashboard caches its queries for a while
            at = _open_node(level, node)
            assert any(RULES[model] in c.value for c in at.caption), model
        finally:
            with conn.cursor().copy("copy forecast.forecast_drivers from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
            st.cache_data.clear()
