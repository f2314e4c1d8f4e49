"""The rooms: each top-level package has one job, says it in its docstring, and the imports
between them run one way (no cycles; ``ml`` sees none of the warehouse). Read from the source
with ``ast``: an import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = (
    "frycast",
    "warehouse",
    "ingest",
    "quality",
    "ml",
    "agents",
    "flows",
    "bench",
    "cli",
    "streamlit_app",
)
# what each room may import besides itself: the layers below it
ALLOWED = {
    "frycast": set(),
    "ml": {"frycast"},
    "warehouse": {"frycast", "ml"},
    "ingest": {"frycast", "warehouse"},
    "quality": {"frycast", "warehouse"},
    "agents": {"frycast", "warehouse", "ml"},
    "streamlit_app": {"frycast", "warehouse", "ml"},
    "flows": {"frycast", "warehouse", "ingest", "quality", "ml", "agents", "streamlit_app"},
    "bench": {
        "frycast",
        "warehouse",
        "ingest",
        "quality",
        "ml",
        "agents",
        "flows",
        "streamlit_app",
    },
    "cli": set(ROOMS) - {"cli"},
}


def imports_of(room: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{other room: the files of ``room`` that import it}."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / room).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ROOMS and top != room:
                    found.setdefault(top, set()).add(str(path.relative_to(root)))
    return found


GRAPH = {room: imports_of(room) for room in ROOMS}


def test_every_top_level_package_is_a_room_with_a_docstring_saying_its_job():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ROOMS)
    for room in ROOMS:
        doc = ast.get_docstring(ast.parse((ROOT / room / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{room}/__init__.py says what it owns and must not do"


def test_every_room_is_packaged_and_copied_into_the_image():
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert set(packages["targets"]["wheel"]["packages"]) == set(ROOMS)
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") and len(line.split()) == 3}  # fmt: skip
    assert set(ROOMS) <= copied, set(ROOMS) - copied


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_layers_below_it(room):
    wrong = {other: files for other, files in GRAPH[room].items() if other not in ALLOWED[room]}
    assert not wrong, f"{room} imports {wrong}"


def test_the_rooms_import_each_other_without_a_cycle():
    # the layering above implies it; this says which cycle, if the table is ever loosened
    state: dict[str, int] = {}

    def visit(room: str, path: list[str]) -> None:
        state[room] = 1
        for other in GRAPH[room]:
            if state.get(other) == 1:
                raise AssertionError(" -> ".join([*path, room, other]))
            if other not in state:
                visit(other, [*path, room])
        state[room] = 2

    for room in ROOMS:
        if room not in state:
            visit(room, [])


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    # the check itself can fail: a lazy import of the warehouse from ml is found
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "m.py").write_text("def f():\n    from warehouse.db import database_url\n")
    assert imports_of("ml", tmp_path) == {"warehouse": {"ml/m.py"}}
