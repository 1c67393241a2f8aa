"""One thread that runs callbacks at given times: client pacing, timeouts and retries.

Clients are not threads (see :mod:`pytest_dchaos.run.workload`): an operation's next step runs
on whatever thread learns of its outcome, and what must wait — a paced start, a timeout, a
retransmission — waits here. A timer that is cancelled stays in the heap until its time
and is dropped then; *coarse* timers (timeouts, retries: most are cancelled) are rounded up
to :data:`COARSE` so the thread wakes at most once per tick for all of them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: The granularity of coarse timers, in seconds.
COARSE = 0.01


def _nothing() -> None:
    pass


class Timer:
    """A callback due at ``when`` (``time.monotonic()``); :meth:`cancel` stops it."""

    __slots__ = ("args", "cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when, self.fn, self.args = when, fn, args
        self.cancelled = False

    def cancel(self) -> None:
        # What the callback would have used goes now, not at its time: a cancelled
        # timeout stays in the heap for seconds, and must not keep its operation alive.
        self.cancelled = True
        self.fn, self.args = _nothing, ()


class Timers:
    """Runs each timer's callback on its own thread, in order of time (started lazily,
    stopped by :meth:`close`). A callback that raises is logged; the others still run."""

    def __init__(self, name: str = "timers") -> None:
        self.name = name
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any,
                   coarse: bool = False) -> Timer:
        return self.call_at(time.monotonic() + max(0.0, delay), fn, *args, coarse=coarse)

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any,
                coarse: bool = False) -> Timer:
        if coarse:
            when = max(when, math.ceil(when / COARSE) * COARSE)  # never early, even by an ulp
        timer = Timer(when, fn, args)
        with self._wake:
            if self._closed:
                timer.cancelled = True  # nothing runs after close
                return timer
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name,
                                                daemon=True)
                self._thread.start()
            first = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, next(self._order), timer))
            if first:  # the thread sleeps until the old first timer: wake it earlier
                self._wake.notify()
        return timer

    def close(self) -> None:
        """Drop every timer not yet run and stop the thread (waits for a callback that is
        running, unless called from one)."""
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                due: list[Timer] = []
                while not due:
                    if self._closed:
                        return
                    now = time.monotonic()
                    while self._heap and self._heap[0][0] <= now:
                        timer = heapq.heappop(self._heap)[2]
                        if not timer.cancelled:
                            due.append(timer)
                    if not due:
                        self._wake.wait(self._heap[0][0] - now if self._heap else None)
            for timer in due:
                if timer.cancelled:
                    continue
                try:
                    timer.fn(*timer.args)
                except Exception:
                    log.exception("timer callback %r failed", timer.fn)
