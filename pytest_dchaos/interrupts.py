"""SIGTERM unwinds like Ctrl-C, so every ``finally`` stops what a run started.

A CI job that is cancelled or times out gets SIGTERM, not Ctrl-C; Python's default for it
ends the process on the spot, leaving containers, networks and processes behind. Both the
``dchaos`` command and the pytest plugin turn it into :class:`KeyboardInterrupt` instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def sigterm_interrupts() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; return what undoes it.

    A handler someone else installed is left alone (and so is everything off the main
    thread, where Python allows no handler).
    """
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return lambda: None
    signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return restore
