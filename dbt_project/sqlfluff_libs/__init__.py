"""dbt's ``var()`` for sqlfluff's jinja templater (``library_path`` in .sqlfluff).

sqlfluff's own stand-in renders every var as a placeholder string; SQL generated from a var (the
sums up the hierarchy in macros/hierarchy.sql loop over ``hierarchy_levels``) cannot render
from that. This gives the templater the project's own vars from dbt_project.yml; a var the
project does not define keeps sqlfluff's placeholder, as before.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlfluff.core.templaters.builtins.dbt import VarEmulator

PROJECT_VARS = yaml.safe_load((Path(__file__).parents[1] / "dbt_project.yml").read_text())["vars"]


def var(name: str, default: object = None) -> object:
    return PROJECT_VARS[name] if name in PROJECT_VARS else VarEmulator()
