"""The dashboard in a planner's language, on a chain like the demo's: one restaurant's data ends
long before the others' (as the imported London orders do), so the published run leaves it out
and a run of its own forecasts it from its own last day; the data ends before today, and no
actuals have arrived since. Names are searchable, headers readable, numbers rounded, dates carry
their year, and each page says what a planner needs to know; checked through Streamlit's AppTest
and in headless Chromium."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.forecast import run_forecast
from flows.pipeline import forecast_pipeline
from frycast.settings import Settings, get_settings, kept_environ
from ingest.generator import ChainSpec
from ingest.orders import Restaurant, import_orders
from ingest.seed import seed
from streamlit_app.serve import running_app
from tests.conftest import _clone, _drop, _with_db, query, scalar
from tests.ui.conftest import CHROMIUM, SHOTS, dashboard_reads, page

SPEC = ChainSpec(restaurants=2, skus=4, days=700, start=date(2024, 1, 1), seed=8)
# a takeaway whose point-of-sale export ends CUT days before the chain's data, imported as the
# demo imports the London orders
STALE_NAME, STALE, CUT = "Camden Takeaway", "camden-takeaway", 120
DISHES = {"Chicken Nuggets": 4.5, "Lamb Curry": 9.95, "Plain Naan": 2.5}
CHEAP = {"folds": 2, "fold_horizon": 28, "models": ["snaive", "weekday_mean"]}


def _takeaway_orders(path: Path) -> Path:
    """Order lines of every day from the chain's start to CUT days before its end."""
    rng = np.random.default_rng(4)
    order = 1000
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["OrderNumber", "OrderDate", "ItemName", "Quantity", "ProductPrice",
                    "TotalProducts"])  # fmt: skip
        day = SPEC.start
        while day <= SPEC.end - timedelta(days=CUT):
            for _ in range(int(rng.integers(3, 7))):
                order += 1
                items = [d for d in DISHES if rng.random() < 0.6] or ["Plain Naan"]
                for item in items:
                    w.writerow([order, f"{day:%d/%m/%Y} 19:30", item, int(rng.integers(1, 3)),
                                DISHES[item], len(items)])  # fmt: skip
            day += timedelta(days=1)
    return path


@pytest.fixture(scope="module")
def warehouse(server_url, template_db, tmp_path_factory):
    name = _clone(server_url, template_db, "frycast_planner")
    url = _with_db(server_url, name)
    seed(url, SPEC)
    orders = _takeaway_orders(tmp_path_factory.mktemp("orders") / "orders.csv")
    import_orders(url, orders, Restaurant(STALE_NAME, region="London", city="London"))
    artifacts = tmp_path_factory.mktemp("mlartifacts").as_uri()
    with kept_environ([], {"FRYCAST_MLFLOW_ARTIFACTS": artifacts}):
        get_settings.cache_clear()
        with prefect_test_harness(server_startup_timeout=120):
            published = forecast_pipeline(url=url, **CHEAP)["run_id"]
        # what `make demo` does with the London orders: the stale restaurant, alone
        alone = run_forecast(
            url,
            Settings(FRYCAST_N_JOBS=1, FRYCAST_MLFLOW_ARTIFACTS=artifacts),
            restaurants=[STALE],
            track=False,
            horizon=56,
            folds=2,
            fold_horizon=28,
            models=("snaive", "weekday_mean"),
        ).run_id
        with dashboard_reads(url):  # the dashboard reads the configured warehouse
            yield {"url": url, "published": published, "alone": alone}
    get_settings.cache_clear()
    _drop(server_url, name)


def headers(frame) -> dict[str, tuple[str, str | None]]:
    """What a dataframe element shows: {column: (header, number or date format)}."""
    config = json.loads(frame.proto.columns)
    return {
        col: (c.get("label"), (c.get("type_config") or {}).get("format"))
        for col, c in config.items()
    }


def test_nodes_carry_names_and_are_found_by_them(warehouse):
    url = warehouse["url"]
    # every node of every level has a name; the bottom's join the restaurant's and item's names
    levels = dict(query(url, "select level, count(*) from marts.dim_node group by level"))
    assert levels["chain"] == 1 and levels["restaurant"] == SPEC.restaurants + 1
    key, name = query(
        url,
        "select n.node_key, n.node_name from marts.dim_node n where level = 'restaurant_sku'"
        " order by node_key limit 1",
    )[0]
    r, s = key.split("/")
    expected = scalar(
        url,
        "select r.restaurant_name || ' · ' || s.sku_name from marts.dim_restaurant r,"
        " marts.dim_sku s where r.restaurant_id = %s and s.sku_id = %s",
        (r, s),
    )
    assert name == expected
    # WHEN a planner searches the item's name (any case) at the bottom level
    at = page("explorer")
    at.selectbox[0].select("restaurant_sku").run()
    word = name.split(" · ")[1].split()[0].upper()
    at.text_input[0].input(word).run()
    assert not at.exception
    node = at.selectbox[1]
    # THEN the nodes found are those whose name holds the word, shown by name with their code
    found = query(
        url,
        "select node_key from marts.dim_node where level = 'restaurant_sku'"
        " and node_name ilike %s order by node_name, node_key",
        (f"%{word}%",),
    )
    assert node.options == [
        f"{n} ({k})"
        for k, n in query(
            url,
            "select node_key, node_name from marts.dim_node where level = 'restaurant_sku'"
            " and node_name ilike %s order by node_name, node_key",
            (f"%{word}%",),
        )
    ]
    assert node.value == found[0][0]
    # a word no name or code holds says so
    at.text_input[0].input("no such dish").run()
    assert any("matches “no such dish”" in w.value for w in at.warning)


def test_the_explorer_shows_a_left_out_restaurant_from_its_own_run_and_its_own_origin(warehouse):
    url, alone = warehouse["url"], warehouse["alone"]
    at = page("explorer")
    at.selectbox[0].select("restaurant").run()
    at.text_input[0].input(STALE_NAME).run()
    assert at.selectbox[1].value == STALE
    # THEN it says the published run leaves it out and shows the run that forecast it alone
    (info,) = [i.value for i in at.info if "leaves this node out" in i.value]
    last = scalar(url, "select history_end from forecast.forecast_runs where run_id = %s",
                  (alone,))  # fmt: skip
    assert f"Shown: run {alone}" in info and f"{last:%d %b %Y}" in info
    shown = at.dataframe[-1].value
    rows = query(
        url,
        "select yhat from marts.fct_forecast_by_run where run_id = %s and level = 'restaurant'"
        " and node_key = %s order by forecast_date",
        (alone, STALE),
    )
    assert shown["yhat"].tolist() == pytest.approx([r[0] for r in rows])
    assert shown["date"].iloc[0] == last + timedelta(days=1)
    # and that its forecast starts in the past, CUT days before the others' (and before today)
    behind = (date.today() - last - timedelta(days=1)).days
    assert any(f"{behind:,} days before today" in w.value for w in at.warning)
    # the table's headers are a planner's, units rounded with thousands separators
    shown_as = headers(at.dataframe[-1])
    assert shown_as["yhat"] == ("forecast (units)", "%,.0f")
    assert shown_as["yhat_lo80"] == ("low (80 %)", "%,.0f")
    assert shown_as["yhat_hi80"] == ("high (80 %)", "%,.0f")
    assert shown_as["date"] == ("date", "D MMM YYYY")
    assert shown_as["vs_last_year_pct"] == ("vs last year", "%+.1f %%")
    # the chart's time axis names the year of each month, its tooltip the weekday and year
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    axes = [layer["encoding"]["x"] for layer in spec["layer"] if "x" in layer.get("encoding", {})]
    assert axes and all(x["axis"]["format"] == "%b %Y" for x in axes)


def test_overview_drift_and_runs_speak_a_planners_language(warehouse):
    url, published = warehouse["url"], warehouse["published"]
    end = scalar(url, "select history_end from forecast.forecast_runs where run_id = %s",
                 (published,))  # fmt: skip
    over = page("overview")
    assert f"data to {end:%d %b %Y}" in over.caption[0].value
    (note,) = [w.value for w in over.warning]
    assert f"starts on {end + timedelta(days=1):%d %b %Y}" in note and "not from today" in note
    totals = headers(over.dataframe[0])
    assert totals["next_12_months"] == ("next 12 months (units)", "%,.0f")
    assert totals["yoy_pct"] == ("vs last 12 months", "%+.1f %%")
    # no actuals after the origin: the drift page says so, and no verdict claims a check
    drift = page("drift")
    assert any(f"No new actuals yet for the published run {published}" in i.value
               for i in drift.info)  # fmt: skip
    assert not [m for m in drift.markdown if "Triage" in m.value]
    runs = page("runs")
    flow_run = scalar(url, "select pipeline from forecast.forecast_runs where run_id = %s",
                      (published,))  # fmt: skip
    link = [m.value for m in runs.markdown if "/runs/flow-run/" in m.value]
    assert link == [
        "Latest pipeline run in the Prefect UI (its steps, logs and progress): "
        f"[run {published}](http://127.0.0.1:4200/runs/flow-run/{flow_run})"
    ]
    # the latest run is the restaurant forecast alone, which no data-quality check validated:
    # the page says so (it raised a KeyError on the empty result before)
    dq = page("data_quality")
    assert dq.selectbox[0].value == warehouse["alone"]
    assert any(f"Run {warehouse['alone']} has no data-quality checks" in i.value for i in dq.info)
    dq.selectbox[0].select(published).run()
    assert not dq.exception
    checks = {m.label: m.value for m in dq.metric}["Checks"]
    assert int(checks) == scalar(
        url, "select count(*) from forecast.dq_results where run_id = %s", (published,)
    )
    message = scalar(url, "select message from forecast.forecast_runs where run_id = %s",
                     (warehouse["alone"],))  # fmt: skip
    assert message.startswith(f"{STALE} alone, forecast from their own last day")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_a_planner_sees_names_notes_rounded_numbers_and_years_in_chromium(warehouse):
    from playwright.sync_api import sync_playwright

    url, published = warehouse["url"], warehouse["published"]
    SHOTS.mkdir(exist_ok=True)
    flow_run = scalar(url, "select pipeline from forecast.forecast_runs where run_id = %s",
                      (published,))  # fmt: skip
    with running_app(url, SHOTS / "planner_streamlit.log") as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def goto(path: str, text: str) -> None:
            page.goto(f"http://127.0.0.1:{port}/{path}")
            page.get_by_text(text).first.wait_for(timeout=60_000)
            page.wait_for_selector(
                "[data-testid='stStatusWidget']", state="detached", timeout=60_000
            )
            assert page.locator("[data-testid='stException']").count() == 0, path

        # the overview: the note on a forecast that starts in the past. (A table's cells are
        # drawn on a canvas, not in the page's text: its headers and formats are checked above,
        # in the column config the page sends the browser.)
        goto("", "days before today")
        page.screenshot(path=str(SHOTS / "planner_overview.png"), full_page=True)
        # the explorer: the stale restaurant found by its name, shown from its own run
        goto("explorer", "Download this table (Excel)")
        page.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="restaurant", exact=True).click()
        search = page.get_by_label("Search (name or code)")
        search.fill(STALE_NAME)
        search.press("Enter")
        page.get_by_text("leaves this node out").wait_for(timeout=60_000)
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
        node = page.get_by_role("combobox", name="Node")
        assert node.input_value() == f"{STALE_NAME} ({STALE})"  # the name, its code beside it
        page.get_by_text("days before today").first.wait_for(timeout=10_000)
        page.screenshot(path=str(SHOTS / "planner_explorer_alone.png"), full_page=True)
        # the drift page: no new actuals yet, said plainly
        goto("drift", "No new actuals yet")
        # the runs page links the published run to its flow run in the Prefect UI
        goto("runs", "Latest pipeline run in the Prefect UI")
        link = page.get_by_role("link", name=f"run {published}")
        assert link.get_attribute("href") == f"http://127.0.0.1:4200/runs/flow-run/{flow_run}"
        page.screenshot(path=str(SHOTS / "planner_runs.png"), full_page=True)
        browser.close()
