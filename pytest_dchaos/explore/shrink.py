"""Shrinking a failing schedule to a small one that still fails.

Passes in turn, each step kept only when ``still_fails`` confirms the failure with the
candidate (in ``dchaos explore`` that means running the scenario again, several times):

1. Remove faults, delta-debugging style (Zeller's ddmin, complements only): first all of
   them (does the failure need faults at all?), then halves, quarters, ... down to one
   fault at a time, going back to coarser chunks after every success.
2. Shorten what is left: each fault's ``duration`` halved while the failure holds, down to
   ``min_duration``.
3. Move what is left earlier: first the whole schedule at once (the faults keep their
   spacing, which a failure of two faults often needs), then each fault on its own; each
   time the ``at`` halved while the failure holds, down to the start of the workload. An
   early schedule is easier to read and lets the next pass cut the workload shorter.
4. Trim the run (given a :class:`Trim`): the schedule's twin removed; the workload cut
   short, down to a little after the last fault ends; the clients halved, down to one;
   the cluster one node smaller at a time, while no fault names the last node and the
   floor the caller sets (a Byzantine replica needs 3f + 1) allows.

Times stay absolute: removing a fault never moves another, and a move changes only the
``at`` of the faults it names, so every candidate is a subset of the original faults,
shortened or moved earlier by a step of its own that was confirmed. No candidate is tried
twice. ``should_stop`` (a budget, Ctrl-C) ends the search early with the smallest schedule
confirmed so far.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pytest_dchaos.explore.schedule import GRID, FaultEntry, entry_seconds, seconds_text

StillFails = Callable[[Sequence[FaultEntry]], bool]
ShrinkAction = Literal["remove", "shorten", "move", "trim"]

#: Left after the last fault ends when the workload is cut short (seconds): time for what
#: the fault set off to show.
TAIL = 0.5


@dataclass(frozen=True)
class Trim:
    """The run beside its faults — its size, and the twins the schedule added (a cluster
    setting, not a fault): what the third pass makes smaller."""

    duration: float
    clients: int
    nodes: int
    #: The fewest nodes the cluster may shrink to.
    min_nodes: int = 1
    #: ``cluster.twins`` entries the schedule added; the third pass tries without them.
    twins: tuple[FaultEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration": seconds_text(self.duration),
                               "clients": self.clients, "nodes": self.nodes}
        if self.twins:
            out["twins"] = list(self.twins)
        return out


StillFailsTrimmed = Callable[[Sequence[FaultEntry], Trim], bool]


@dataclass(frozen=True)
class ShrinkStep:
    """One candidate tried: what was changed, the candidate, and whether it still failed
    (and so was kept)."""

    action: ShrinkAction
    detail: str
    faults: tuple[FaultEntry, ...]
    still_fails: bool
    trim: Trim | None = None
    #: For a move: (fault number from 1, ``at`` before, ``at`` after) of each fault moved.
    moves: tuple[tuple[int, float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = {"action": self.action, "detail": self.detail, "faults": list(self.faults),
               "still_fails": self.still_fails}
        if self.trim is not None:
            out["run"] = self.trim.to_json()
        return out


@dataclass
class ShrinkResult:
    faults: list[FaultEntry]
    steps: list[ShrinkStep] = field(default_factory=list)
    #: False when ``should_stop`` ended the search before it was done.
    complete: bool = True
    #: The run's size after the third pass (None: not trimmed).
    trim: Trim | None = None


class _Stopped(Exception):
    pass


class Shrinker:
    """Holds the smallest schedule confirmed so far, so a caller interrupted mid-way can
    still take it (``best``)."""

    def __init__(self, faults: Sequence[FaultEntry], still_fails: StillFails, *,
                 min_duration: float = 0.1,
                 on_step: Callable[[ShrinkStep], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 trim: Trim | None = None,
                 still_fails_trimmed: StillFailsTrimmed | None = None) -> None:
        """With ``trim``, every candidate is judged by ``still_fails_trimmed`` (the faults
        and the run's size) and the third pass runs; otherwise by ``still_fails``."""
        if trim is not None and still_fails_trimmed is None:
            raise ValueError("trimming the run needs still_fails_trimmed")
        self.best: list[FaultEntry] = [dict(f) for f in faults]
        self.best_trim = trim
        self.steps: list[ShrinkStep] = []
        self._still_fails = still_fails
        self._still_fails_trimmed = still_fails_trimmed
        self._min_duration = max(min_duration, GRID)
        self._on_step = on_step
        self._should_stop = should_stop
        self._tried: set[str] = set()

    def run(self) -> ShrinkResult:
        try:
            self._remove()
            self._shorten()
            self._move()
            self._trim()
        except _Stopped:
            return ShrinkResult(self.best, self.steps, complete=False, trim=self.best_trim)
        return ShrinkResult(self.best, self.steps, trim=self.best_trim)

    def _try(self, action: ShrinkAction, detail: str, candidate: list[FaultEntry],
             trim: Trim | None = None, moves: tuple[tuple[int, float, float], ...] = ()
             ) -> bool:
        trim = trim or self.best_trim
        key = json.dumps([candidate, trim.to_json() if trim else None], sort_keys=True)
        if key in self._tried:
            return False
        self._tried.add(key)
        if self._should_stop is not None and self._should_stop():
            raise _Stopped
        if trim is not None and self._still_fails_trimmed is not None:
            fails = bool(self._still_fails_trimmed(candidate, trim))
        else:
            fails = bool(self._still_fails(candidate))
        step = ShrinkStep(action, detail, tuple(dict(f) for f in candidate), fails, trim,
                          moves)
        self.steps.append(step)
        if fails:
            self.best = candidate
            self.best_trim = trim
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

    def _move(self) -> None:
        """Earlier, all together first, then one fault at a time (see the module's
        docstring)."""
        everything = range(len(self.best))
        if len(self.best) > 1:
            self._move_earlier(everything, "all faults")
        for index in everything:
            self._move_earlier([index], f"fault {index + 1}")

    def _move_earlier(self, indexes: Sequence[int], what: str) -> None:
        """Halve the ``at`` of the first of ``indexes`` while the failure holds, moving the
        others by as much; under ``min_duration`` the next step is the start itself."""
        while True:
            ats = {i: entry_seconds(self.best[i]["at"]) for i in indexes}
            first = min(ats.values())
            half = round(first / 2 / GRID) * GRID
            target = half if half >= self._min_duration else 0.0
            shift = first - target
            if shift < GRID / 2:
                return
            candidate = [dict(f) for f in self.best]
            moves = tuple((i + 1, at, at - shift) for i, at in sorted(ats.items()))
            for i, _, after in moves:
                candidate[i - 1]["at"] = seconds_text(after)
            detail = (f"{what}: at {seconds_text(first)} -> {seconds_text(target)}"
                      if len(moves) == 1 else f"{what}: {seconds_text(shift)} earlier")
            if not self._try("move", detail, candidate, moves=moves):
                return

    def _trim(self) -> None:
        if self.best_trim is None:
            return
        if self.best_trim.twins:  # a twin is dropped as a fault is: all at once
            self._try("remove", "the twin of " + ", ".join(
                str(t["node"]) for t in self.best_trim.twins), self.best,
                replace(self.best_trim, twins=()))
        # The workload: down to a little after the last fault ends, halving what is left.
        while True:
            trim = self.best_trim
            floor = _last_end(self.best) + TAIL
            shorter = max(floor, round((floor + trim.duration) / 2 / GRID) * GRID)
            if trim.duration - shorter < TAIL / 2:
                break
            if not self._try("trim", f"workload {seconds_text(trim.duration)} -> "
                             f"{seconds_text(shorter)}", self.best,
                             replace(trim, duration=shorter)):
                break
        while self.best_trim.clients > 1:
            trim = self.best_trim
            fewer = trim.clients // 2
            if not self._try("trim", f"clients {trim.clients} -> {fewer}", self.best,
                             replace(trim, clients=fewer)):
                break
        while self.best_trim.nodes > self.best_trim.min_nodes:
            trim = self.best_trim
            if _highest_node(self.best) >= trim.nodes:
                break  # a fault names the last node
            if not self._try("trim", f"nodes {trim.nodes} -> {trim.nodes - 1}", self.best,
                             replace(trim, nodes=trim.nodes - 1)):
                break


def _last_end(faults: Sequence[FaultEntry]) -> float:
    """When the last fault ends (an untimed one at its ``at``)."""
    return max((entry_seconds(f["at"]) + (entry_seconds(f["duration"]) if "duration" in f
                                          else 0.0) for f in faults), default=0.0)


def _highest_node(faults: Sequence[FaultEntry]) -> int:
    """The highest node number any fault names (``n4`` in a kill, a link, a group)."""
    text = json.dumps(list(faults))
    return max((int(n) for n in re.findall(r"\bn(\d+)\b", text)), default=0)


def moved_text(steps: Sequence[ShrinkStep]) -> str:
    """What moving kept, for minimal.yaml's description ('' if nothing): each fault moved,
    from where it was to where it ended."""
    moved: dict[int, tuple[float, float]] = {}
    for step in steps:
        if step.action == "move" and step.still_fails:
            for number, before, after in step.moves:
                moved[number] = (moved.get(number, (before, after))[0], after)
    if not moved:
        return ""
    return ", moved earlier (" + ", ".join(
        f"fault {n} at {seconds_text(a)} -> {seconds_text(b)}"
        for n, (a, b) in sorted(moved.items())) + ")"


def shrink(faults: Sequence[FaultEntry], still_fails: StillFails, *,
           min_duration: float = 0.1, on_step: Callable[[ShrinkStep], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> ShrinkResult:
    """The smallest schedule found that ``still_fails``: see the module's docstring."""
    return Shrinker(faults, still_fails, min_duration=min_duration, on_step=on_step,
                    should_stop=should_stop).run()


__all__ = ["ShrinkResult", "ShrinkStep", "Shrinker", "StillFails", "StillFailsTrimmed", "Trim",
           "moved_text", "shrink"]
