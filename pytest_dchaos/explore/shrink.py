"""Shrinking a failing schedule to a small one that still fails.

Two passes, each step kept only when ``still_fails`` confirms the failure with the candidate
(in ``dchaos explore`` that means running the scenario again, several times):

1. Remove faults, delta-debugging style (Zeller's ddmin, complements only): first all of
   them (does the failure need faults at all?), then halves, quarters, ... down to one
   fault at a time, going back to coarser chunks after every success.
2. Shorten what is left: each fault's ``duration`` halved while the failure holds, down to
   ``min_duration``.

Times stay absolute: removing a fault never moves another, so every candidate is a subset
of the original faults at their original moments (shortened at most). No candidate is tried
twice. ``should_stop`` (a budget, Ctrl-C) ends the search early with the smallest schedule
confirmed so far.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_dchaos.explore.schedule import GRID, FaultEntry, entry_seconds, seconds_text

StillFails = Callable[[Sequence[FaultEntry]], bool]
ShrinkAction = Literal["remove", "shorten"]


@dataclass(frozen=True)
class ShrinkStep:
    """One candidate tried: what was changed, the candidate, and whether it still failed
    (and so was kept)."""

    action: ShrinkAction
    detail: str
    faults: tuple[FaultEntry, ...]
    still_fails: bool

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "detail": self.detail, "faults": list(self.faults),
                "still_fails": self.still_fails}


@dataclass
class ShrinkResult:
    faults: list[FaultEntry]
    steps: list[ShrinkStep] = field(default_factory=list)
    #: False when ``should_stop`` ended the search before it was done.
    complete: bool = True


class _Stopped(Exception):
    pass


class Shrinker:
    """Holds the smallest schedule confirmed so far, so a caller interrupted mid-way can
    still take it (``best``)."""

    def __init__(self, faults: Sequence[FaultEntry], still_fails: StillFails, *,
                 min_duration: float = 0.1,
                 on_step: Callable[[ShrinkStep], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.best: list[FaultEntry] = [dict(f) for f in faults]
        self.steps: list[ShrinkStep] = []
        self._still_fails = still_fails
        self._min_duration = max(min_duration, GRID)
        self._on_step = on_step
        self._should_stop = should_stop
        self._tried: set[str] = set()

    def run(self) -> ShrinkResult:
        try:
            self._remove()
            self._shorten()
        except _Stopped:
            return ShrinkResult(self.best, self.steps, complete=False)
        return ShrinkResult(self.best, self.steps)

    def _try(self, action: ShrinkAction, detail: str, candidate: list[FaultEntry]) -> bool:
        key = json.dumps(candidate, sort_keys=True)
        if key in self._tried:
            return False
        self._tried.add(key)
        if self._should_stop is not None and self._should_stop():
            raise _Stopped
        fails = bool(self._still_fails(candidate))
        step = ShrinkStep(action, detail, tuple(dict(f) for f in candidate), fails)
        self.steps.append(step)
        if fails:
            self.best = candidate
        if self._on_step is not None:
            self._on_step(step)
        return fails

    def _remove(self) -> None:
        if not self.best:
            return
        if self._try("remove", f"all {len(self.best)} faults", []):
            return
        chunks = 2
        while len(self.best) >= 2:
            current = self.best
            size = len(current)
            chunks = min(chunks, size)
            bounds = [(size * i // chunks, size * (i + 1) // chunks) for i in range(chunks)]
            for low, high in bounds:
                candidate = current[:low] + current[high:]
                what = (f"fault {low + 1}" if high - low == 1
                        else f"faults {low + 1}-{high}")
                if self._try("remove", f"{what} of {size}", candidate):
                    chunks = max(chunks - 1, 2)
                    break
            else:
                if chunks >= size:
                    return
                chunks = min(chunks * 2, size)

    def _shorten(self) -> None:
        for index in range(len(self.best)):
            while "duration" in self.best[index]:
                now = entry_seconds(self.best[index]["duration"])
                half = max(round(now / 2 / GRID) * GRID, self._min_duration)
                if half >= now - GRID / 2:
                    break
                candidate = [dict(f) for f in self.best]
                candidate[index]["duration"] = seconds_text(half)
                if not self._try("shorten", f"fault {index + 1}: duration "
                                 f"{seconds_text(now)} -> {seconds_text(half)}", candidate):
                    break


def shrink(faults: Sequence[FaultEntry], still_fails: StillFails, *,
           min_duration: float = 0.1, on_step: Callable[[ShrinkStep], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> ShrinkResult:
    """The smallest schedule found that ``still_fails``: see the module's docstring."""
    return Shrinker(faults, still_fails, min_duration=min_duration, on_step=on_step,
                    should_stop=should_stop).run()


__all__ = ["ShrinkResult", "ShrinkStep", "Shrinker", "StillFails", "shrink"]
