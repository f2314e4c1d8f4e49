"""`make bench-import`: import a 100 MB daily file and a 100 MB order-line export; time and peak
memory of each import (the importers stream: the target is 500 MB of RSS whatever the size).

Each import runs in its own process (its peak RSS is the import's alone), into a fresh database
(frycast_bench_import) on the configured server. Results go to bench_results/import.json.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.results import fresh_database, write_results

RSS_TARGET_MB = 500
# each import in its own process, which prints its own peak RSS (KiB) when done
_IMPORT = {
    "daily": "from ingest.daily import import_daily as load; "
    "load(sys.argv[1], sys.argv[2], register_new=True)",
    "orders": "from ingest.orders import import_orders as load, Restaurant; "
    "load(sys.argv[1], sys.argv[2], Restaurant('Bench Grill'))",
}
_PEAK = "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def write_daily(path: Path, size: int, rng: random.Random) -> int:
    """Restaurants x 40 SKUs x days, the contract's columns, until ``size`` bytes."""
    n, written, start = 0, 0, date(2020, 1, 1)
    with path.open("w") as f:
        f.write("restaurant_id,sku_id,sale_date,units,net_sales,unit_price,on_promo\n")
        while written < size:
            r, rest = divmod(n, 40 * 1200)
            day, s = divmod(rest, 40)
            line = (
                f"R{r:04d},S{s:04d},{start + timedelta(day)},{rng.randint(0, 50)},"
                f"{rng.randint(0, 500)}.50,4.99,false\n"
            )
            written += f.write(line)
            n += 1
    return n


def write_orders(path: Path, size: int, rng: random.Random) -> int:
    """Orders of 1-6 lines (250 menu items, 300 orders a day), until ``size`` bytes."""
    n, written, order, start = 0, 0, 0, date(2016, 1, 1)
    items = [f"Menu Item {k}" for k in range(250)]
    with path.open("w") as f:
        f.write("OrderNumber,OrderDate,ItemName,Quantity,ProductPrice,TotalProducts\n")
        while written < size:
            order += 1
            lines = rng.randint(1, 6)
            day = start + timedelta(order // 300)
            for _ in range(lines):
                written += f.write(
                    f"{order},{day:%d/%m/%Y} {rng.randint(11, 22)}:{rng.randint(10, 59)},"
                    f"{rng.choice(items)},{rng.randint(1, 3)},{rng.randint(1, 15)}.95,{lines}\n"
                )
                n += 1
    return n


def run(server_url: str, size_mb: int = 100) -> dict:
    url = fresh_database(server_url, "frycast_bench_import")
    rng = random.Random(7)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, writer in (("daily", write_daily), ("orders", write_orders)):
            path = Path(tmp) / f"{kind}.csv"
            lines = writer(path, size_mb << 20, rng)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", "import sys; " + _IMPORT[kind] + _PEAK, url, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
            peak_mb = int(done.stdout.split()[-1]) / 1024
            results[kind] = {
                "file_mb": round(path.stat().st_size / 2**20, 1),
                "lines": lines,
                "seconds": round(seconds, 1),
                "lines_per_s": round(lines / seconds),
                "peak_rss_mb": round(peak_mb, 1),
                "rss_target_mb": RSS_TARGET_MB,
                "met": peak_mb <= RSS_TARGET_MB,
            }
    results["command"] = "frycast bench import"
    write_results("import.json", results)
    return results


def format_table(results: dict) -> str:
    rows = [f"{'file':<8}{'MB':>7}{'lines':>12}{'s':>8}{'lines/s':>10}{'peak RSS MB':>13}  target"]
    for kind in ("daily", "orders"):
        r = results[kind]
        verdict = "met" if r["met"] else "NOT met"
        rows.append(
            f"{kind:<8}{r['file_mb']:>7}{r['lines']:>12,}{r['seconds']:>8}{r['lines_per_s']:>10,}"
            f"{r['peak_rss_mb']:>13,.0f}  <= {r['rss_target_mb']} {verdict}"
        )
    return "\n".join(rows)
