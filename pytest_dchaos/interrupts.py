"""SIGTERM unwinds like Ctrl-C, so every ``finally`` stops what a run started.

A CI job that is cancelled or times out gets SIGTERM, not Ctrl-C; Python's default for it
ends the process on the spot, leaving containers, networks and processes behind. Both the
``dchaos`` command and the pytest plugin turn it into :class:`Terminated`, a
:class:`KeyboardInterrupt`, instead: every ``except KeyboardInterrupt`` and ``finally`` treats
both alike, and the exit code still tells them apart, as a shell does — 130 (128 + SIGINT)
for Ctrl-C, 143 (128 + SIGTERM) for SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

#: Exit codes after Ctrl-C and after SIGTERM, as a shell reports a process they ended.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a CI job cancelled or timed out): unwinds as Ctrl-C does."""


def exit_code(interrupt: BaseException | None) -> int:
    """The exit code for a run ended by ``interrupt``: 143 after SIGTERM, else 130."""
    return EXIT_SIGTERM if isinstance(interrupt, Terminated) else EXIT_SIGINT


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def sigterm_interrupts() -> Callable[[], None]:
    """Make SIGTERM raise :class:`Terminated` in the main thread; return what undoes it.

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
