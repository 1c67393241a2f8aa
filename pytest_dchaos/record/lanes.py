"""The timeline of a run, as lanes: what each node, each fault and (from its family) each
protocol role was doing, over the run's time.

A :class:`Lane` is one row of the report page's timeline: spans of named states (``down``,
``view 2``, ``n3 suspect``) and point marks (a restart, a snapshot). The generic lanes come
from the fault timeline the harness wrote (observed): each node up, down, paused,
Byzantine or twinned, and each fault from its start to its end. A family adds its own with
``ProtocolFamily.report_lanes`` (gossip's membership views, PBFT's views and primaries,
...), read from the same report folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_dchaos.record.folder import ReportFolder

#: The node states of the generic lanes, the worse first: a node down and Byzantine is
#: shown down.
NODE_STATES = ("down", "paused", "byzantine", "twinned", "up")
NODES_GROUP = "nodes"
FAULTS_GROUP = "faults"


@dataclass(frozen=True)
class Span:
    """A state held from ``start`` to ``end`` (run seconds); ``detail`` for its tooltip."""

    start: float
    end: float
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Mark:
    """Something that happened at one moment (run seconds)."""

    t: float
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Lane:
    """One row of the timeline: ``name`` within ``group`` (the groups are drawn in the
    order the lanes come, each lane once)."""

    group: str
    name: str
    spans: tuple[Span, ...] = ()
    marks: tuple[Mark, ...] = ()
    #: Where its spans come from, in a few words, for the page ("observed: the fault
    #: timeline", "reported: each node's members answer").
    source: str = ""


def held(samples: Iterable[tuple[float, str | None, str]], end: float) -> tuple[Span, ...]:
    """Spans from samples ``(t, state, detail)`` in time order, each state held until the
    next sample (the last until ``end``); the same state and detail in a row are one span.
    A state of None is a gap: nothing known until the next sample."""
    spans: list[Span] = []
    current: tuple[float, str, str] | None = None
    for t, state, detail in samples:
        if current is not None and (state, detail) == current[1:]:
            continue
        if current is None and state is None:
            continue
        if current is not None and t > current[0]:  # a state replaced at once: none
            spans.append(Span(current[0], t, current[1], current[2]))
        current = None if state is None else (t, state, detail)
    if current is not None and end > current[0]:
        spans.append(Span(current[0], end, current[1], current[2]))
    return tuple(spans)


def node_lanes(folder: ReportFolder) -> list[Lane]:
    """Each node's lane, and each twin's, from the fault timeline: down from a crash to its
    restart (to the end if it never came back), paused, Byzantine, twinned; incidents and
    restarts as marks."""
    facts = folder.facts
    members = facts.members or _nodes_named(folder)
    end = folder.end
    start = min(0.0, *(e.time for e in folder.faults)) if folder.faults else 0.0
    # node -> (time, +1/-1, state, description), from the starts and ends of faults.
    changes: dict[str, list[tuple[float, int, str, str]]] = {m: [] for m in members}
    marks: dict[str, list[Mark]] = {m: [] for m in members}
    states = {"crash": "down", "pause": "paused", "byzantine": "byzantine"}
    started = {e.key: e for e in folder.faults if e.action == "start"}
    ended = {e.key for e in folder.faults if e.action == "end"}
    for event in folder.faults:
        for node in event.nodes:
            if node not in changes:
                continue
            if event.action == "error":
                marks[node].append(Mark(event.time, "fault failed", event.description))
            elif event.effect == "restart" and event.action == "start":
                marks[node].append(Mark(event.time, "restarted", event.description))
            elif event.effect in states:
                state = states[event.effect]
                if event.action == "start":
                    changes[node].append((event.time, 1, state, event.description))
                    if event.key not in ended:
                        changes[node].append((end, -1, state, event.description))
                elif event.key in started:
                    changes[node].append((event.time, -1, state, event.description))
    twinned = {t.node: t for t in facts.twins}
    for twin in facts.twins:
        if twin.node in changes:
            changes[twin.node].append((start, 1, "twinned", f"a twin, {twin.member}, speaks "
                                       f"as {twin.node} to {', '.join(twin.sees)}{twin.hearing}"))
    for incident in facts.incidents:
        if incident.node in marks:
            marks[incident.node].append(Mark(incident.time, incident.kind, incident.detail))
    lanes = []
    for member in members:
        copy = next((t for t in facts.twins if t.member == member), None)
        if copy is not None:
            spans = _sweep([(start, 1, "twinned", f"twin of {copy.node}, talking to "
                             f"{', '.join(copy.sees)}{copy.hearing}"), *changes[member]],
                           start, end)
        else:
            spans = _sweep(changes[member], start, end)
        name = member if member not in twinned else f"{member} (twinned)"
        lanes.append(Lane(NODES_GROUP, name, spans, tuple(sorted(marks[member],
                                                                 key=lambda m: m.t)),
                          source="observed: the faults the harness caused"))
    return lanes


def _sweep(changes: Sequence[tuple[float, int, str, str]], start: float, end: float
           ) -> tuple[Span, ...]:
    """The state at every moment: the worst held (see :data:`NODE_STATES`), else up."""
    active: dict[str, list[str]] = {}
    samples: list[tuple[float, str | None, str]] = [(start, "up", "")]
    for t, delta, state, description in sorted(changes, key=lambda c: (c[0], -c[1])):
        holders = active.setdefault(state, [])
        if delta > 0:
            holders.append(description)
        elif description in holders:
            holders.remove(description)
        worst = next((s for s in NODE_STATES[:-1] if active.get(s)), "up")
        samples.append((t, worst, "; ".join(active.get(worst, []))))
    return held(samples, end)


def fault_lanes(folder: ReportFolder) -> list[Lane]:
    """A lane per fault: from its start to its end (to the end of the run if it never
    ended); one that happens at once (a restart, a heal) or could not be applied, a mark."""
    end = folder.end
    lanes: dict[str, tuple[list[Span], list[Mark]]] = {}
    opened: dict[str, tuple[float, str, str]] = {}
    for event in folder.faults:
        spans, marks = lanes.setdefault(event.key, ([], []))
        if event.action == "start":
            opened[event.key] = (event.time, event.effect, event.description)
        elif event.action == "end" and event.key in opened:
            at, effect, description = opened.pop(event.key)
            spans.append(Span(at, event.time, effect, description))
        elif event.action == "error":
            marks.append(Mark(event.time, "could not be applied", event.description))
    for key, (at, effect, description) in opened.items():
        spans, marks = lanes[key]
        if effect in ("restart", "other") and not spans:
            marks.append(Mark(at, effect, description))
        else:
            spans.append(Span(at, end, effect, f"{description} (never ended)"))
    out = []
    for key, (spans, marks) in lanes.items():
        kind = next((e.kind for e in folder.faults if e.key == key), "")
        out.append(Lane(FAULTS_GROUP, f"{key} {kind}", tuple(spans), tuple(marks),
                        source="observed: the fault timeline"))
    return out


def _nodes_named(folder: ReportFolder) -> tuple[str, ...]:
    """The nodes of a folder that does not list them: those its faults name."""
    return tuple(sorted({n for e in folder.faults for n in e.nodes}))
