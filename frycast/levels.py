"""frycast's forecast hierarchy: the one definition of its levels, in Python.

Each level is a name and the columns that group the bottom series into the level's nodes; a
node's key is its values of those columns joined with "/" (the grand total's: the level's name).
The levels are in order, the bottom level (restaurant × SKU, one series per restaurant's item)
last. The dbt project's ``hierarchy_levels`` var (dbt_project/dbt_project.yml) is the same list
for SQL; tests/dbt/test_hierarchy_levels.py checks the two agree. Code that needs the levels
derives them from these (no dependencies: cheap to import for settings and the dashboard).
"""

from __future__ import annotations

HIERARCHY_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("chain", ()),
    ("region", ("region",)),
    ("restaurant", ("restaurant_id",)),
    ("product_group", ("product_group",)),
    ("sku", ("sku_id",)),
    ("restaurant_product_group", ("restaurant_id", "product_group")),
    ("restaurant_sku", ("restaurant_id", "sku_id")),
)
LEVEL_NAMES: tuple[str, ...] = tuple(name for name, _ in HIERARCHY_LEVELS)
# the aggregate levels and the bottom level, as Hierarchy.from_bottom takes them
FRYCAST_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = HIERARCHY_LEVELS[:-1]
FRYCAST_BOTTOM: tuple[str, tuple[str, ...]] = HIERARCHY_LEVELS[-1]
# every column a level groups by, in order of first use: the bottom series' hierarchy attributes
HIERARCHY_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for _, columns in HIERARCHY_LEVELS for c in columns)
)
