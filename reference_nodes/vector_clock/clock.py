"""Vector clocks as plain ``{node: count}`` dicts (zero entries left out).

Two kinds are used by the node, and they must not be confused:

* the **event clock** (Fidge/Mattern): the node's own entry counts every event it logs —
  each send, receive, delivery and snapshot record — and a receive merges the clock the
  message carries. ``e`` happened before ``f`` exactly when ``clock(e) < clock(f)``. This
  is the clock in the event log, in ``cbcast_ok`` and in ShiViz.
* the **delivery vector** of causal broadcast (Birman-Schiper-Stephenson): how many
  broadcasts from each origin this node has delivered. A broadcast carries its origin's
  delivery vector as ``deps``; a receiver holds it back until it has delivered as much.
"""

from __future__ import annotations

from collections.abc import Mapping

Clock = dict[str, int]


def merge(mine: Mapping[str, int], other: Mapping[str, int]) -> Clock:
    """The entry-wise maximum."""
    merged = dict(mine)
    for node, count in other.items():
        if count > merged.get(node, 0):
            merged[node] = count
    return merged


def leq(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    """``a <= b`` entry-wise (missing entries are zero)."""
    return all(count <= b.get(node, 0) for node, count in a.items())


def deliverable(origin: str, seq: int, deps: Mapping[str, int],
                delivered: Mapping[str, int]) -> bool:
    """May broadcast number ``seq`` of ``origin``, sent after its origin had delivered
    ``deps``, be delivered by a node that has delivered ``delivered``?"""
    if delivered.get(origin, 0) != seq - 1:
        return False
    return all(count <= delivered.get(node, 0)
               for node, count in deps.items() if node != origin)
