"""Progress of long work, told while it runs: which stage started or ended, and how many of a
stage's fits are done.

Code tells (``tell``, or a :class:`Counted` function, or a stage from ``frycast.stages``); a
listener decides where it goes: the pipeline's forecast task sends it to the Prefect run's log
(the terminal and the UI) and a progress artifact, `frycast forecast` to its log. With no listener
nothing is said. A listener lives in this process: fits that run on Dask workers are not counted
one by one (their stage still starts and ends here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, float | None], None]  # (message, fraction done of this step or None)

_listener: Listener | None = None
EVERY_S = 5.0  # a counted step speaks at most this often, and always at its last item


def tell(message: str, fraction: float | None = None) -> None:
    listener = _listener
    if listener is not None:
        listener(message, fraction)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous


class Counted:
    """``fn`` that, after each item, says how many of ``total`` are done: "backtest: 4/9 fits
    done (lightgbm, fold 2 of 3, 1,250 series)". A class, not a closure, so a Dask mapper can
    pickle it."""

    def __init__(self, fn: Callable, total: int, what: str, label: Callable[[object], str]):
        self.fn, self.total, self.what, self.label = fn, total, what, label
        self.done = 0
        self.last = time.monotonic()

    def __call__(self, item):
        out = self.fn(item)
        self.done += 1
        now = time.monotonic()
        if self.done == self.total or now - self.last >= EVERY_S:
            self.last = now
            tell(
                f"{self.what}: {self.done}/{self.total} fits done ({self.label(item)})",
                self.done / self.total,
            )
        return out
