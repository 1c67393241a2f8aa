"""The PBFT family's lanes on the report page: the view and its primary over the run, as
the clients saw them in the replies (observed), each replica's view in its own replies, and
what each replica reported at the end (its view and suspects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_dchaos.families.pbft.observations import REPLIES
from pytest_dchaos.families.pbft.quorums import max_faulty, primary_of
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.lanes import Lane, Mark, held

GROUP = "views and primaries"


def view_lanes(run: ReportFolder) -> list[Lane]:
    """The cluster's view (the highest that f+1 replicas replied in so far, as the clients
    and the ``leader`` faults judge it) with its primary, and each replica's view in the
    replies it sent; the end marks say what each replica reported of itself."""
    nodes = run.facts.nodes
    replies = _replies(run)
    if not nodes or (not replies and not run.states):
        return []
    end = run.end
    quorum = max_faulty(len(nodes)) + 1
    voters: dict[int, set[str]] = {}
    best = 0
    cluster: list[tuple[float, str | None, str]] = [(0.0, "view 0", _primary(0, nodes))]
    own: dict[str, list[tuple[float, str | None, str]]] = {}
    for at, member, replica, view in replies:
        own.setdefault(member, []).append((at, f"view {view}", _primary(view, nodes)))
        if view > best:
            voters.setdefault(view, set()).add(replica)
            if len(voters[view]) >= quorum:
                best = view
                cluster.append((at, f"view {best}", _primary(best, nodes)))
    lanes = [Lane(GROUP, f"view (f+1={quorum} replies)", held(cluster, end),
                  source="observed: the highest view f+1 replicas replied in")]
    for member in sorted({*nodes, *own}, key=_order):
        marks = []
        state = run.states.get(member)
        if isinstance(state, Mapping):
            suspects = state.get("suspects")
            said = f"reports view {state.get('view')}"
            if isinstance(suspects, list) and suspects:
                said += f", suspects {', '.join(map(str, suspects))}"
            marks.append(Mark(end, said, "its dchaos_state at the end (reported)"))
        lanes.append(Lane(GROUP, f"{member} replies in", held(own.get(member, []), end),
                          tuple(marks), source="observed: the view each reply names"))
    return lanes


def _replies(run: ReportFolder) -> list[tuple[float, str, str, int]]:
    """``(at, member, replica, view)`` of every reply that names an integer view."""
    found = run.observations.get(REPLIES)
    raw: Any = found.get("replies") if isinstance(found, Mapping) else None
    out = []
    for reply in raw or ():
        if not isinstance(reply, Mapping) or reply.get("kind") != "reply":
            continue
        at, view = reply.get("at"), reply.get("view")
        if isinstance(at, int | float) and isinstance(view, int) and not isinstance(view, bool):
            member = str(reply.get("member"))
            out.append((float(at), member, str(reply.get("replica", member)), view))
    out.sort()
    return out


def _primary(view: int, nodes: tuple[str, ...]) -> str:
    return f"primary {primary_of(view, nodes)}"


def _order(member: str) -> tuple[int, str]:
    digits = "".join(c for c in member.split("-")[0] if c.isdigit())
    return (int(digits) if digits else 0, member)
