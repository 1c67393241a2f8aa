"""Who gossips to whom: the overlay graph, the same at every node.

Every node can compute every other node's neighbours — the graph depends only on
``node_ids`` (and, for "topology", on the topology message every node receives) — and the
disseminator relies on that: a node that receives a value from ``a`` knows ``a`` also sent
it to all of ``a``'s neighbours, and does not send it to them again. On the complete graph
that makes gossip "direct mail" (the origin tells everyone; nobody relays); on a sparse
graph it prunes the flood to the edges that lead somewhere new.

Modes:

* ``full`` — every node is every node's neighbour. One hop from the origin to everyone:
  the lowest latency, at n-1 transmissions per value. The choice for small clusters.
* ``circulant`` — nodes in a ring (ids in natural order), each linked to the nodes at
  a few offsets chosen to minimise the diameter (``degree`` is twice the number of offsets).
  For 25 nodes and degree 6 the diameter is 3. The choice when n-1 sends per value costs too much.
* ``topology`` — the harness's ``topology`` message, as given (directed: a node sends to
  the nodes listed under its id). Maelstrom's grid has a large diameter, so this is for
  scenarios that test a particular graph, not for speed.
* ``auto`` — ``full`` up to :data:`AUTO_FULL_LIMIT` nodes, ``circulant`` above.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

AUTO_FULL_LIMIT = 32


def natural_key(node_id: str) -> tuple[str, int, str]:
    """Sort ``n2`` before ``n10``."""
    match = re.fullmatch(r"(.*?)(\d+)", node_id)
    if match:
        return (match.group(1), int(match.group(2)), node_id)
    return (node_id, -1, node_id)


def _eccentricity(n: int, offsets: Sequence[int]) -> tuple[int, int]:
    """(diameter, sum of distances) of the circulant graph C_n(offsets), by BFS from 0.

    Circulant graphs look the same from every vertex, so one BFS gives the diameter.
    """
    steps = {o % n for o in offsets} | {(-o) % n for o in offsets}
    dist = {0: 0}
    frontier = [0]
    while frontier:
        nxt = []
        for v in frontier:
            for s in steps:
                w = (v + s) % n
                if w not in dist:
                    dist[w] = dist[v] + 1
                    nxt.append(w)
        frontier = nxt
    if len(dist) < n:
        return (n, n * n)  # disconnected: worse than anything connected
    return (max(dist.values()), sum(dist.values()))


EXHAUSTIVE_LIMIT = 5000  # offset sets worth trying one by one (a few ms each at most)


@lru_cache(maxsize=32)
def circulant_offsets(n: int, degree: int) -> tuple[int, ...]:
    """Offsets of a low-diameter circulant graph on ``n`` nodes of (about) ``degree``.

    Deterministic, so every node finds the same graph: the best of all offset sets when
    there are few enough to try, else greedy from the ring (offset 1, which keeps the
    graph connected), adding the offset that most shrinks the diameter. "Best" is the
    smallest diameter, then the smallest total distance, then the smallest offsets.
    """
    count = max(1, degree // 2)
    candidates = range(1, n // 2 + 1)
    if math.comb(len(candidates), count) <= EXHAUSTIVE_LIMIT:
        return min(itertools.combinations(candidates, count),
                   key=lambda offsets: (*_eccentricity(n, offsets), offsets),
                   default=(1,))
    offsets = [1]
    while len(offsets) < count:
        best = min(
            (c for c in candidates if c not in offsets),
            key=lambda c: (*_eccentricity(n, [*offsets, c]), c),
            default=None,
        )
        if best is None:
            break
        offsets.append(best)
    return tuple(offsets)


class Overlay:
    """The overlay graph of one cluster, as seen identically from every node."""

    def __init__(self, self_id: str, node_ids: Iterable[str], mode: str, degree: int) -> None:
        self.self_id = self_id
        self.node_ids = sorted(set(node_ids), key=natural_key)
        self.requested = mode
        n = len(self.node_ids)
        if mode == "auto":
            mode = "full" if n <= AUTO_FULL_LIMIT else "circulant"
        if mode == "circulant" and degree >= n - 1:
            mode = "full"  # a circulant graph that dense is the complete graph
        self.mode = mode
        self._graph: dict[str, frozenset[str]] = {}
        if mode == "full":
            everyone = frozenset(self.node_ids)
            self._graph = {v: everyone - {v} for v in self.node_ids}
        elif mode == "circulant":
            offsets = circulant_offsets(n, degree)
            index = {v: i for i, v in enumerate(self.node_ids)}
            self._graph = {
                v: frozenset(self.node_ids[(index[v] + s * o) % n]
                             for o in offsets for s in (1, -1)) - {v}
                for v in self.node_ids
            }
        # "topology" stays empty until set_topology(): nobody to gossip to yet.

    def set_topology(self, topology: Mapping[str, Iterable[str]]) -> None:
        """Adopt the harness's topology (only in "topology" mode; ignored otherwise)."""
        if self.mode != "topology":
            return
        known = set(self.node_ids)
        self._graph = {
            v: frozenset(w for w in topology.get(v, ()) if w in known and w != v)
            for v in self.node_ids
        }

    @property
    def neighbours(self) -> frozenset[str]:
        """Who this node gossips to."""
        return self._graph.get(self.self_id, frozenset())

    def neighbours_of(self, node: str) -> frozenset[str]:
        """Who ``node`` gossips to (so who already got what it sent)."""
        return self._graph.get(node, frozenset())

    def diameter(self) -> int | None:
        """Hops between the two farthest nodes (None if some cannot reach others)."""
        worst = 0
        for start in self.node_ids:
            dist = {start: 0}
            frontier = [start]
            while frontier:
                nxt = []
                for v in frontier:
                    for w in self._graph.get(v, ()):
                        if w not in dist:
                            dist[w] = dist[v] + 1
                            nxt.append(w)
                frontier = nxt
            if len(dist) < len(self.node_ids):
                return None
            worst = max(worst, *dist.values())
        return worst
