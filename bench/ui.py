"""`make bench-ui`: how long each dashboard page takes to show its data in headless Chromium,
after a warm-up load of every page (the query cache is then warm, as for a planner's second
visit). Runs against the configured warehouse; results go to bench_results/ui.json."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.results import RESULTS_DIR, write_results
from streamlit_app.serve import running_app

PAGES = {
    "": "Published run",
    "explorer": "Download this forecast",
    "accuracy": "Backtest leaderboard",
    "data_quality": "Rejected lines from imports",
    "agents": "Event timeline",
    "drift": "Drift",
    "runs": "dbt docs",
}


def run(url: str, rounds: int = 3) -> dict[str, dict]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("needs Debian's chromium (apt-get install chromium)")
    timings: dict[str, list[float]] = {p or "overview": [] for p in PAGES}
    with running_app(url) as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for r in range(rounds + 1):  # round 0 warms up
            for path, text in PAGES.items():
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/{path}")
                page.get_by_text(text).first.wait_for(timeout=120_000)
                page.wait_for_selector(
                    "[data-testid='stStatusWidget']", state="detached", timeout=120_000
                )
                if r:
                    timings[path or "overview"].append(time.perf_counter() - started)
        browser.close()
    return {
        name: {"median_s": round(sorted(v)[len(v) // 2], 2), "max_s": round(max(v), 2)}
        for name, v in timings.items()
    }


def write(result: dict, out_dir: Path = RESULTS_DIR) -> Path:
    return write_results("ui.json", result, out_dir)
