"""The fault schedule: expanded from the scenario before the run, then played during it.

:func:`expand` turns ``faults:`` into a list of :class:`Firing` — every repetition, every
random time, every ``one_of`` choice and every random node drawn from the seed — so that the
same seed gives the same schedule, and the schedule can be printed before anything starts.
:class:`Nemesis` plays it on a thread, reverts each firing after its ``duration``, heals on
demand, and writes the fault timeline.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.errors import DchaosError, HarnessError
from pytest_dchaos.faults.base import FaultEnv, FaultType, Scope
from pytest_dchaos.record.result import FaultAction, FaultEvent
from pytest_dchaos.scenario.model import Scenario


@dataclass(frozen=True)
class Firing:
    """One concrete fault at one time."""

    key: str
    at: float
    kind: str
    fault: FaultType[Any]
    options: Any
    duration: float | None
    line: int

    @property
    def description(self) -> str:
        return self.fault.describe(self.options)

    def describe_timing(self) -> str:
        until = f" for {self.duration:g}s" if self.duration else ""
        return f"{self.at:7.2f}s  {self.description}{until}"


def expand(scenario: Scenario, faults: Mapping[str, FaultType[Any]], seed: int) -> list[Firing]:
    """The scenario's fault schedule with every random choice drawn from ``seed``."""
    rng = random.Random(f"dchaos-schedule:{seed}")
    nodes = scenario.node_ids
    limit = scenario.workload.duration
    firings: list[Firing] = []
    for number, spec in enumerate(scenario.faults, start=1):
        start = spec.at if isinstance(spec.at, float | int) else rng.uniform(*spec.at)
        times = [float(start)]
        if spec.every:
            while True:
                nxt = times[-1] + spec.every
                if nxt >= limit or (spec.until is not None and nxt > spec.until):
                    break
                if spec.times is not None and len(times) >= spec.times:
                    break
                times.append(nxt)
        for repeat, at in enumerate(times, start=1):
            kind, options = (rng.choice(spec.choices) if spec.choices
                             else (spec.kind, spec.options))
            fault = faults[kind]
            key = f"f{number}" if len(times) == 1 else f"f{number}.{repeat}"
            firings.append(Firing(key, at, kind, fault, fault.resolve(options, rng, nodes),
                                  spec.duration, spec.line))
    firings.sort(key=lambda f: (f.at, f.key))
    return firings


class Nemesis:
    """Plays a schedule against a cluster on its own thread."""

    def __init__(self, cluster: Cluster, firings: Iterable[Firing],
                 clock: Callable[[], float],
                 leader: Callable[[], str | None] | None = None) -> None:
        self.cluster = cluster
        self.clock = clock
        #: Who leads now (the family's word, from what the harness saw): ``leader`` in a
        #: fault is this node at the moment the fault fires.
        self.leader: Callable[[], str | None] = leader or (lambda: None)
        self.timeline: list[FaultEvent] = []
        self.error: DchaosError | None = None
        self._queue: list[tuple[float, int, FaultAction, Firing]] = []
        self._seq = itertools.count()
        for firing in firings:
            self._push(firing.at, "start", firing)
        self._active: dict[str, Firing] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)

    def _push(self, at: float, action: FaultAction, firing: Firing) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), action, firing))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Fire nothing more (active faults stay until :meth:`heal`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    return
                at = self._queue[0][0]
            if self._stop.wait(max(0.0, at - self.clock())):
                return
            with self._lock:
                _, _, action, firing = heapq.heappop(self._queue)
                try:
                    if action == "start":
                        self._start(firing)
                    elif firing.key in self._active:
                        self._end(firing)
                except DchaosError as exc:
                    self._record("error", firing, f"{firing.description}: {exc}")
                    self.error = HarnessError(
                        f"fault {firing.key} ({firing.description}, scenario line "
                        f"{firing.line}) could not be applied: {exc}")
                    self.error.__cause__ = exc  # what went wrong, kept by type
                    return

    def _env(self, firing: Firing) -> FaultEnv:
        return FaultEnv(cluster=self.cluster, key=firing.key, nemesis=self, leader=self.leader)

    def _start(self, firing: Firing) -> None:
        env = self._env(firing)
        options = firing.fault.at_fire(firing.options, env)
        aimed = ""
        if options != firing.options:
            # What fired is what is recorded, reverted and judged: the node that led then.
            aimed = f" (aimed at the leader: {firing.description})"
            firing = replace(firing, options=options)
        firing.fault.start(firing.options, env)
        self._record("start", firing, firing.description + aimed)
        if firing.fault.revertible and (firing.duration or firing.fault.healable):
            self._active[firing.key] = firing
        if firing.duration:
            self._push(firing.at + firing.duration, "end", firing)

    def _end(self, firing: Firing) -> None:
        del self._active[firing.key]
        firing.fault.stop(firing.options, self._env(firing))
        self._record("end", firing)

    def _record(self, action: FaultAction, firing: Firing, description: str | None = None) -> None:
        self.timeline.append(FaultEvent(
            time=self.clock(), action=action, key=firing.key, kind=firing.kind,
            description=description or firing.description,
            nodes=firing.fault.nodes(firing.options),
            effect=firing.fault.effect_of(firing.options),
            links=tuple(sorted(firing.fault.links(firing.options))),
            delay=firing.fault.delay_of(firing.options),
        ))

    def heal(self, scopes: Iterable[Scope] | None = None, *, final: bool = False) -> list[str]:
        """Revert active faults in ``scopes`` (all when None). ``final`` also ends faults
        that wait for their own duration (a crash with ``duration`` restarts its nodes)."""
        scopes = set(scopes) if scopes is not None else None
        with self._lock:
            chosen = [
                f for f in self._active.values()
                if (scopes is None or f.fault.scope in scopes)
                and (f.fault.healable or (final and f.duration))
            ]
            for firing in chosen:
                self._end(firing)
        return [f.key for f in chosen]

    def active(self) -> list[str]:
        with self._lock:
            return [f.description for f in self._active.values()]
