"""The vector-clock family's lanes on the report page: snapshots.

Observed: each snapshot a client asked for, from the request to its answer, on the node
asked; and the moments each node sent its markers (a Chandy-Lamport node records its
state, then sends a marker on every channel: the trace shows when). Reported: which nodes
say they completed each snapshot, in the request's tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import OK, outcome_of
from pytest_dchaos.record.lanes import Lane, Mark, Span

GROUP = "snapshots"
#: Marker sends closer together than this are one node recording one snapshot.
BURST = 0.05


def snapshot_lanes(run: ReportFolder) -> list[Lane]:
    completed = _completed(run.states)
    asked: dict[str, list[Span]] = {}
    for invocation, completion in run.history.pairs():
        if invocation.f != "snapshot" or invocation.node is None:
            continue
        outcome = outcome_of(completion)
        ident = completion.value if completion is not None and outcome == OK else None
        until = completion.time if completion is not None else run.end
        where = completed.get(str(ident)) if ident is not None else None
        detail = f"snapshot {ident if ident is not None else '?'} ({outcome})"
        if where is not None:
            detail += f"; complete on {', '.join(where) or 'no node'} (reported)"
        asked.setdefault(invocation.node, []).append(
            Span(invocation.time, max(until, invocation.time), f"snapshot {outcome}", detail))
    markers = _marker_bursts(run)
    lanes = []
    for node in run.facts.nodes or tuple(sorted({*asked, *markers})):
        if node in asked or node in markers:
            lanes.append(Lane(GROUP, f"{node} snapshots", tuple(asked.get(node, ())),
                              tuple(markers.get(node, ())),
                              source="observed: snapshot requests, marker sends in the trace"))
    return lanes


def _completed(states: Mapping[str, object]) -> dict[str, list[str]]:
    """snapshot id -> the nodes that report it complete."""
    out: dict[str, list[str]] = {}
    for node, state in sorted(states.items()):
        snaps = state.get("snapshots") if isinstance(state, Mapping) else None
        for snap in snaps if isinstance(snaps, list) else ():
            if isinstance(snap, Mapping) and "id" in snap:
                done = out.setdefault(str(snap["id"]), [])
                if snap.get("complete"):
                    done.append(str(node))
    return out


def _marker_bursts(run: ReportFolder) -> dict[str, list[Mark]]:
    """Per node, one mark per burst of marker sends (a message type naming a marker)."""
    t0 = run.t0
    if t0 is None:
        return {}
    last: dict[str, float] = {}
    marks: dict[str, list[Mark]] = {}
    for event in run.trace():
        if event.get("ev") != "send" or "marker" not in str(event.get("type", "")):
            continue
        node, t = str(event.get("src")), float(event.get("t", 0.0)) - t0
        if node not in last or t - last[node] > BURST:
            marks.setdefault(node, []).append(Mark(t, "markers sent",
                                                   "recorded its state, then sent markers"))
        last[node] = t
    return marks
