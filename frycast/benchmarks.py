"""Where every benchmark leaves its numbers: bench_results/<name>.json (git-ignored)."""

from __future__ import annotations

import json
from pathlib import Path

from frycast.settings import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench_results"


def write_results(name: str, payload, out_dir: Path = RESULTS_DIR) -> Path:
    out_dir.mkdir(exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
