"""The dbt docs site is complete: every model, source and column described, checked against the
columns the built relations really have in Postgres; an exposure for every dashboard page that
depends on exactly what the page's queries read; the training flow and SQL users declared."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest

from tests.conftest import query
from warehouse.db import reader_url
from warehouse.dbt import run_dbt

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app"
DASHBOARD = "http://127.0.0.1:8501"
SCHEMAS = ("raw", "staging", "intermediate", "features", "marts", "forecast", "planning")
RELATION = re.compile(r"\b(" + "|".join(SCHEMAS) + r")\.([a-z_][a-z0-9_]*)\b")
# every page of streamlit_app/app.py and the exposure that declares what it reads
PAGE_EXPOSURES = {
    "overview": "dashboard_overview",
    "explorer": "dashboard_explorer",
    "adjust": "dashboard_adjust",
    "accuracy": "dashboard_accuracy",
    "data_quality": "dashboard_data_quality",
    "agents": "dashboard_agents",
    "drift": "dashboard_drift",
    "runs": "dashboard_runs",
}


@pytest.fixture(scope="module")
def docs(module_warehouse: str, tmp_path_factory) -> dict:
    """Build every model on a blank warehouse (the columns exist, no rows needed), then generate
    the docs site into a private target directory and read what it documents."""
    target = tmp_path_factory.mktemp("dbt_target")
    built = run_dbt(["run", "--target-path", str(target)], module_warehouse)
    assert built.success, "\n".join(built.failures)
    # as `frycast docs` does: the reader login, which cannot write (the docs server gets no other)
    generated = run_dbt(
        ["docs", "generate", "--no-compile", "--target-path", str(target)],
        reader_url(module_warehouse),
    )
    assert generated.success, "\n".join(generated.failures)
    rows = query(
        module_warehouse,
        # a partition (forecast_values' per run, and its default) is documented as its parent
        "select table_schema, table_name, column_name from information_schema.columns c"
        " where table_schema = any(%s) and not exists (select from pg_class p"
        " where p.oid = format('%%I.%%I', c.table_schema, c.table_name)::regclass"
        " and p.relispartition)",
        (list(SCHEMAS),),
    )
    columns: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in rows:
        columns.setdefault((schema, table), set()).add(column)
    return {
        "manifest": json.loads((target / "manifest.json").read_text()),
        "catalog": json.loads((target / "catalog.json").read_text()),
        "columns": columns,
    }


def _models(manifest: dict) -> dict[str, dict]:
    return {
        k: n
        for k, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["package_name"] == "frycast"
    }


def _relation(node: dict) -> tuple[str, str]:
    return node["schema"], node.get("alias") or node.get("identifier") or node["name"]


def _blank(text: str | None) -> bool:
    return not (text or "").strip()


def undocumented(manifest: dict, columns: dict[tuple[str, str], set[str]]) -> list[str]:
    """Every gap in the docs: models, sources and columns without a description, relation
    columns the yml does not declare, and declared columns the relation does not have."""
    gaps = []
    nodes = list(_models(manifest).values()) + list(manifest["sources"].values())
    for node in nodes:
        name = ".".join(_relation(node))
        if _blank(node["description"]):
            gaps.append(f"{name}: no description")
        if node["resource_type"] == "source" and _blank(node.get("source_description")):
            gaps.append(f"source {node['source_name']}: no description")
        declared = node["columns"]
        actual = columns.get(_relation(node))
        if actual is None:
            gaps.append(f"{name}: not in the warehouse")
            continue
        for col in sorted(actual - set(declared)):
            gaps.append(f"{name}.{col}: in the warehouse but not documented")
        for col, spec in declared.items():
            if col not in actual:
                gaps.append(f"{name}.{col}: documented but not in the warehouse")
            elif _blank(spec.get("description")):
                gaps.append(f"{name}.{col}: no description")
    return gaps


def test_every_model_source_and_column_is_described(docs):
    gaps = undocumented(docs["manifest"], docs["columns"])
    assert not gaps, "\n".join(gaps)


def test_every_raw_and_forecast_table_is_a_documented_source(docs):
    sources = {_relation(s) for s in docs["manifest"]["sources"].values()}
    tables = {key for key in docs["columns"] if key[0] in ("raw", "forecast")}
    assert tables - sources == set(), "tables without a source entry in the yml"


def test_the_docs_site_has_the_overview_and_every_model_in_its_catalog(docs):
    overview = docs["manifest"]["docs"]["doc.frycast.__overview__"]["block_contents"]
    for what in ("marts.fct_forecast", "frycast_reader", "docs/sql_examples.md", DASHBOARD):
        assert what in overview
    assert set(_models(docs["manifest"])) <= set(docs["catalog"]["nodes"])


def test_the_check_finds_a_blank_description_and_an_undocumented_column(docs):
    manifest = copy.deepcopy(docs["manifest"])
    columns = {k: set(v) for k, v in docs["columns"].items()}
    manifest["nodes"]["model.frycast.fct_forecast"]["columns"]["yhat"]["description"] = " "
    columns[("marts", "fct_daily_sales")].add("new_column")
    del manifest["sources"]["source.frycast.forecast.dq_results"]["columns"]["observed"]
    found = set(undocumented(manifest, columns)) - set(
        undocumented(docs["manifest"], docs["columns"])
    )
    assert found == {
        "marts.fct_daily_sales.new_column: in the warehouse but not documented",
        "marts.fct_forecast.yhat: no description",
        "forecast.dq_results.observed: in the warehouse but not documented",
    }


# --- exposures ------------------------------------------------------------------------------


def _function_sql(path: Path) -> dict[str, set[tuple[str, str]]]:
    """The relations each module-level function's SQL names, following calls within the module."""
    tree = ast.parse(path.read_text())
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    direct, calls = {}, {}
    for name, f in funcs.items():
        text = " ".join(
            n.value for n in ast.walk(f) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        )
        direct[name] = set(RELATION.findall(text))
        calls[name] = {
            n.func.id
            for n in ast.walk(f)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in funcs
        }

    def reads(name: str, seen: frozenset = frozenset()) -> set[tuple[str, str]]:
        out = set(direct[name])
        for callee in calls[name] - seen - {name}:
            out |= reads(callee, seen | {name})
        return out

    return {name: reads(name) for name in funcs}


def _queries_in(tree: ast.AST) -> set[str]:
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "queries"
    }


def _queries_used(path: Path) -> set[str]:
    """`queries.<name>` used by a page, and by the page helpers it imports (only those)."""
    tree = ast.parse(path.read_text())
    used = _queries_in(tree)
    helpers = {
        f.name: _queries_in(f)
        for f in ast.parse((APP / "app_pages" / "_common.py").read_text()).body
        if isinstance(f, ast.FunctionDef)
    }
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module == "streamlit_app.app_pages._common":
            for alias in n.names:
                used |= helpers.get(alias.name, set())
    return used


def page_reads(page: str) -> set[tuple[str, str]]:
    sql = _function_sql(APP / "queries.py")
    used = _queries_used(APP / "app_pages" / f"{page}.py")
    return set().union(*(sql[name] for name in used if name in sql))


def _exposure(manifest: dict, name: str) -> dict:
    key = f"exposure.frycast.{name}"
    assert key in manifest["exposures"], f"no exposure {name}"
    return manifest["exposures"][key]


def _depends_on(manifest: dict, exposure: dict) -> set[tuple[str, str]]:
    """The relations an exposure depends on; every one must resolve to a model or a source."""
    nodes = {**manifest["nodes"], **manifest["sources"]}
    deps = exposure["depends_on"]["nodes"]
    assert deps, f"{exposure['name']} depends on nothing"
    assert len(deps) == len(exposure["refs"]) + len(exposure["sources"]), "unresolved depends_on"
    missing = [d for d in deps if d not in nodes]
    assert not missing, f"{exposure['name']}: {missing} do not resolve"
    return {_relation(nodes[d]) for d in deps}


def _strings(path: Path) -> str:
    """Every string a module holds (SQL, f-string parts, docstrings); a non-Python file whole."""
    text = path.read_text()
    if path.suffix != ".py":
        return text
    return "\n".join(
        n.value
        for n in ast.walk(ast.parse(text))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def not_marts(root: Path) -> list[str]:
    """Relations outside `marts` named in the SQL of the files under ``root``."""
    return [
        f"{path.relative_to(root)}: {schema}.{name}"
        for path in sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
        for schema, name in RELATION.findall(_strings(path))
        if schema != "marts"
    ]


def test_the_dashboard_reads_the_marts_only(tmp_path):
    """No page or query reads the pipeline's (`forecast.*`) or the loaders' (`raw.*`) tables, or
    staging: what the dashboard shows is in the marts, documented, tested and granted there."""
    offenders = not_marts(APP)
    assert not offenders, "the dashboard must read marts only:\n" + "\n".join(offenders)
    # the check finds such a read, in a query's SQL and in any other file of the app
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "q.py").write_text(
        'x = forecast.assign()\nSQL = f"select * from forecast.run_states where {x}"\n'
        '"""from marts.fct_runs"""\n'
    )
    (tmp_path / "query.sql").write_text("select * from raw.rejected_rows")
    assert not_marts(tmp_path) == [
        "pages/q.py: forecast.run_states",
        "query.sql: raw.rejected_rows",
    ]


def test_the_dashboard_levels_are_the_hierarchys():
    from ml.reconcile.hierarchy import FRYCAST_BOTTOM, FRYCAST_LEVELS
    from streamlit_app import queries

    hierarchy = [name for name, _ in FRYCAST_LEVELS] + [FRYCAST_BOTTOM[0]]
    assert hierarchy == queries.LEVELS
    assert queries.LEVELS[0] == "chain" and queries.LEVELS[-1] == "restaurant_sku"


def test_every_dashboard_page_has_an_exposure():
    app = (APP / "app.py").read_text()
    pages = re.findall(r'st\.Page\(PAGES / "(\w+)\.py"', app)
    assert set(pages) == set(PAGE_EXPOSURES), "a dashboard page without an exposure (or gone)"


@pytest.mark.parametrize("page", sorted(PAGE_EXPOSURES))
def test_a_pages_exposure_depends_on_exactly_what_its_queries_read(docs, page):
    manifest = docs["manifest"]
    exposure = _exposure(manifest, PAGE_EXPOSURES[page])
    assert exposure["type"] == "dashboard"
    assert not _blank(exposure["description"]) and exposure["owner"]["name"]
    default = re.search(
        r'st\.Page\(PAGES / "(\w+)\.py"[^)]*default=True', (APP / "app.py").read_text()
    )
    path = "" if default and default.group(1) == page else page
    assert exposure["url"] == f"{DASHBOARD}/{path}"
    reads = page_reads(page)
    assert reads, f"found no queries on the {page} page"
    declared = _depends_on(manifest, exposure)
    assert declared == reads, (
        f"{page}: read but not in depends_on {sorted(reads - declared)}; "
        f"in depends_on but not read {sorted(declared - reads)}"
    )


def test_the_training_flow_exposure_depends_on_the_features_it_reads(docs):
    manifest = docs["manifest"]
    exposure = _exposure(manifest, "forecast_training")
    assert exposure["type"] == "ml"
    panel_io = (ROOT / "warehouse" / "panel_io.py").read_text()
    features = {r for r in RELATION.findall(panel_io) if r[0] == "features"}
    assert features
    assert _depends_on(manifest, exposure) == features


def test_the_sql_users_exposure_is_kept(docs):
    manifest = docs["manifest"]
    exposure = _exposure(manifest, "sql_users")
    assert exposure["type"] == "analysis"
    assert ("marts", "fct_forecast") in _depends_on(manifest, exposure)
