"""Wall time and peak memory per pipeline stage, for `frycast bench pipeline`; each stage's start
and end are also told to whoever listens for progress (``frycast.progress``).

Code marks its stages with ``with stage("backtest"):``; outside a :func:`recording` that costs
nothing. Inside one, a sampler thread reads the resident memory of this process and its children
(joblib / loky workers, dbt threads are in-process) every ``interval`` seconds, and each stage
records its wall time and the highest sample seen while it ran. A stage entered again (the bottom
and the aggregate engines both backtest) accumulates its time and keeps the higher peak. Stages
nest: an outer stage's time includes its inner ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import psutil

from frycast import progress


@dataclass
class StageStat:
    name: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    calls: int = 0
    order: int = 0


@dataclass
class StageRecorder:
    interval: float = 0.1
    stats: dict[str, StageStat] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    _open: dict[str, float] = field(default_factory=dict)  # stage -> peak since it opened
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @staticmethod
    def tree_rss_mb() -> float:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with suppress(psutil.Error):  # a worker that just exited
                total += child.memory_info().rss
        return total / 2**20

    def _sample(self) -> None:
        rss = self.tree_rss_mb()
        with self._lock:
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            for name, peak in self._open.items():
                self._open[name] = max(peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stage-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        with self._lock:
            stat = self.stats.setdefault(name, StageStat(name, order=len(self.stats)))
            nested_reentry = name in self._open
            if not nested_reentry:
                self._open[name] = 0.0
        self._sample()
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self._sample()
            with self._lock:
                stat.calls += 1
                if not nested_reentry:  # a stage inside itself is timed once, by the outer one
                    stat.seconds += elapsed
                    stat.peak_rss_mb = max(stat.peak_rss_mb, self._open.pop(name))

    def table(self) -> list[dict]:
        return [
            {
                "stage": s.name,
                "seconds": round(s.seconds, 1),
                "peak_rss_mb": round(s.peak_rss_mb),
                "calls": s.calls,
            }
            for s in sorted(self.stats.values(), key=lambda s: s.order)
        ]


_active: StageRecorder | None = None


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark a stage: told to the progress listener as it starts and ends (``frycast.progress``);
    recorded only inside :func:`recording`."""
    progress.tell(f"{name} …")
    started = time.perf_counter()
    recorder = _active
    if recorder is None:
        yield
    else:
        with recorder.stage(name):
            yield
    progress.tell(f"{name} done in {time.perf_counter() - started:,.0f} s")


@contextmanager
def recording(interval: float = 0.1) -> Iterator[StageRecorder]:
    """Record every :func:`stage` entered (in any thread) until the block ends."""
    global _active
    recorder = StageRecorder(interval=interval)
    recorder.start()
    _active = recorder
    try:
        yield recorder
    finally:
        _active = None
        recorder.stop()
