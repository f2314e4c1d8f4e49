"""The hierarchy has one definition on each side: the dbt var `hierarchy_levels` and
frycast.levels.HIERARCHY_LEVELS say the same levels, columns and order."""

from __future__ import annotations

from pathlib import Path

import yaml

from frycast.levels import FRYCAST_BOTTOM, FRYCAST_LEVELS, HIERARCHY_LEVELS, LEVEL_NAMES
from ml.reconcile import hierarchy

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"


def test_the_dbt_var_is_the_python_hierarchy():
    levels = yaml.safe_load(DBT_PROJECT.read_text())["vars"]["hierarchy_levels"]
    assert all(set(level) == {"name", "columns"} for level in levels), levels
    assert [(level["name"], tuple(level["columns"])) for level in levels] == list(HIERARCHY_LEVELS)


def test_the_python_names_are_views_of_the_one_constant():
    assert (*FRYCAST_LEVELS, FRYCAST_BOTTOM) == HIERARCHY_LEVELS
    assert tuple(name for name, _ in HIERARCHY_LEVELS) == LEVEL_NAMES
    assert len(set(LEVEL_NAMES)) == len(LEVEL_NAMES)
    # the summing matrix's module re-exports the same objects, not a copy
    assert hierarchy.HIERARCHY_LEVELS is HIERARCHY_LEVELS
    assert hierarchy.FRYCAST_LEVELS is FRYCAST_LEVELS
    assert hierarchy.FRYCAST_BOTTOM is FRYCAST_BOTTOM
