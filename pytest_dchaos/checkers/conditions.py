"""What the cluster's conditions were at any moment, rebuilt from the fault timeline.

Failure-detection checks need to know, for an observer O and a member X at time t, whether
X had really failed from O's point of view (crashed, paused, or cut off so that no path of
working links joins them), or was healthy (up, and both links between them intact for a
while), or neither (a one-way cut, lossy links, just after a heal): only the first may be
required to be detected, and only the second can give a false positive.

This reads only :class:`FaultEvent` effects, nodes and links — never fault kinds — so a
third-party fault with the right ``effect`` is understood too.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pytest_dchaos.record.history import Op, taken_down
from pytest_dchaos.record.result import FaultEvent, RunRecord

Link = tuple[str, str]
#: A restart is recorded when the node is back; it was down for a moment before.
RESTART_DOWNTIME = 0.5


@dataclass(frozen=True)
class Segment:
    """Conditions between two change points of the timeline."""

    start: float
    down: frozenset[str]
    cut: frozenset[Link]
    lossy: frozenset[Link]
    component: dict[str, int]  # node -> id of its connected group (up nodes only)
    #: Links a fault slows: the longest it holds a message back (``math.inf``: unbounded).
    slow: Mapping[Link, float] = field(default_factory=dict)


class Conditions:
    def __init__(self, faults: Iterable[FaultEvent], nodes: Iterable[str]) -> None:
        self.nodes = tuple(nodes)
        intervals: list[tuple[float, float, FaultEvent]] = []
        starts: dict[str, FaultEvent] = {}
        for event in faults:
            if event.action == "start":
                if event.effect == "restart":
                    intervals.append((event.time - RESTART_DOWNTIME, event.time, event))
                else:
                    starts[event.key] = event
            elif event.action == "end" and event.key in starts:
                begun = starts.pop(event.key)
                intervals.append((begun.time, event.time, begun))
        intervals.extend((e.time, math.inf, e) for e in starts.values())
        points = sorted({0.0, *(a for a, _, _ in intervals), *(b for _, b, _ in intervals
                                                               if b != math.inf)})
        self._starts = points
        self.segments = [self._segment(t, intervals) for t in points]

    def _segment(self, t: float, intervals: list[tuple[float, float, FaultEvent]]) -> Segment:
        down: set[str] = set()
        cut: set[Link] = set()
        lossy: set[Link] = set()
        slow: dict[Link, float] = {}
        for a, b, event in intervals:
            if not a <= t < b:
                continue
            if event.effect in ("crash", "pause", "restart"):
                down.update(event.nodes)
            elif event.effect == "cut":
                cut.update(event.links)
            elif event.effect == "lossy":
                lossy.update(event.links)
            elif event.effect == "slow":
                for link in event.links:  # faults on one link add up
                    slow[link] = slow.get(link, 0.0) + event.delay
        return Segment(t, frozenset(down), frozenset(cut), frozenset(lossy),
                       self._components(down, cut), slow)

    def _components(self, down: set[str], cut: set[Link]) -> dict[str, int]:
        """Groups of up nodes joined by links that work both ways."""
        up = [n for n in self.nodes if n not in down]
        component: dict[str, int] = {}
        for root in up:
            if root in component:
                continue
            component[root] = len(component)
            label, stack = component[root], [root]
            while stack:
                a = stack.pop()
                for b in up:
                    if b not in component and (a, b) not in cut and (b, a) not in cut:
                        component[b] = label
                        stack.append(b)
        return component

    def at(self, t: float) -> Segment:
        return self.segments[max(0, bisect.bisect_right(self._starts, t) - 1)]

    def failed(self, observer: str, member: str, t: float) -> bool:
        """Member has really failed as seen from observer (who must be up)."""
        seg = self.at(t)
        if member in seg.down:
            return True
        return seg.component.get(observer) != seg.component.get(member)

    def is_down(self, node: str, t: float) -> bool:
        return node in self.at(t).down

    def healthy(self, observer: str, member: str, t: float, settle: float) -> bool:
        """Both up and both links between them intact and lossless since ``t - settle``."""
        pair = {(observer, member), (member, observer)}
        first = max(0, bisect.bisect_right(self._starts, t - settle) - 1)
        last = bisect.bisect_right(self._starts, t)
        for seg in self.segments[first:last]:
            if observer in seg.down or member in seg.down:
                return False
            if pair & seg.cut or pair & seg.lossy:
                return False
        return True

    def slowest_to(self, member: str, t: float, settle: float) -> float:
        """The longest a fault held back a message on any link to or from ``member`` since
        ``t - settle`` (0: none slowed). A suspicion of the member born anywhere spreads, so
        every link of the member counts, not only the observer's."""
        first = max(0, bisect.bisect_right(self._starts, t - settle) - 1)
        last = bisect.bisect_right(self._starts, t)
        return max((delay for seg in self.segments[first:last]
                    for (a, b), delay in seg.slow.items() if member in (a, b)), default=0.0)

    def delay_on(self, link: Link, start: float, end: float) -> float:
        """The longest a fault held back a message on ``link`` at some moment of
        ``[start, end]`` (0: none slowed it; ``math.inf``: no known bound)."""
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        last = bisect.bisect_right(self._starts, end)
        return max((seg.slow.get(link, 0.0) for seg in self.segments[first:last]),
                   default=0.0)

    def failure_intervals(self, observer: str, member: str, end: float
                          ) -> list[tuple[float, float]]:
        """Maximal intervals (up to ``end``) in which ``member`` had failed for ``observer``
        while the observer itself was up."""
        out: list[tuple[float, float]] = []
        bounds = [*self._starts[1:], end]
        for seg, stop in zip(self.segments, bounds, strict=True):
            if seg.start >= end:
                break
            now_failed = observer not in seg.down and self.failed(observer, member, seg.start)
            if now_failed and out and out[-1][1] == seg.start:
                out[-1] = (out[-1][0], min(stop, end))
            elif now_failed:
                out.append((seg.start, min(stop, end)))
        return out

    def connected_time(self, node: str, start: float, end: float) -> float:
        """Seconds of ``[start, end)`` in which ``node`` was up and joined to at least one
        other up node by links working both ways: the time it had to pass anything on."""
        total = 0.0
        bounds = [*self._starts[1:], math.inf]
        for seg, stop in zip(self.segments, bounds, strict=True):
            overlap = min(stop, end) - max(seg.start, start)
            if overlap > 0 and self._has_peer(seg, node):
                total += overlap
        return total

    def next_down(self, node: str, t: float) -> float | None:
        """The first moment at or after ``t`` at which ``node`` is down (``t`` itself if it
        is down then); None if it never is."""
        if self.is_down(node, t):
            return t
        later = self.segments[bisect.bisect_right(self._starts, t):]
        return next((seg.start for seg in later if node in seg.down), None)

    def down_during(self, node: str, start: float, end: float) -> bool:
        """Whether ``node`` was down at some moment of ``[start, end]``."""
        found = self.next_down(node, start)
        return found is not None and found <= end

    @staticmethod
    def _has_peer(seg: Segment, node: str) -> bool:
        label = seg.component.get(node)
        return label is not None and sum(1 for other in seg.component.values()
                                         if other == label) > 1

    def could_reach(self, src: str, dest: str, start: float, end: float) -> bool:
        """Whether, at some moment of ``[start, end]``, both were up and a path of links
        working in the direction ``src`` → ``dest`` joined them: a message of ``src`` (a
        refutation, say) could have arrived. Under a one-way cut a node can be failed for
        ``dest`` (no path both ways) and still reach it."""
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        last = bisect.bisect_right(self._starts, end)
        return any(self._directed_path(seg, src, dest) for seg in self.segments[first:last])

    def _directed_path(self, seg: Segment, src: str, dest: str) -> bool:
        if src in seg.down or dest in seg.down:
            return False
        up = [n for n in self.nodes if n not in seg.down]
        seen, stack = {src}, [src]
        while stack:
            a = stack.pop()
            if a == dest:
                return True
            for b in up:
                if b not in seen and (a, b) not in seg.cut:
                    seen.add(b)
                    stack.append(b)
        return False


def out_of_reach(record: RunRecord, conditions: Conditions, invoke: Op,
                 completion: Op | None) -> bool:
    """Whether a client operation that did not end ok was out of its node's reach: the
    harness did not deliver it (the node was down, or had not answered ``init`` since it
    came back), or its fault timeline had the node crashed, stopped, paused or restarting
    while the operation was outstanding. A node cannot answer what it never got, or while
    the harness holds it down; checks of availability excuse such operations, and judge
    the node by those it could have answered."""
    if taken_down(completion):
        return True
    if invoke.node is None:
        return False
    end = completion.time if completion is not None else record.phases.get(
        "final_end", math.inf)
    return conditions.down_during(invoke.node, invoke.time, end)
