"""Distributed deadlock detection on a global wait-for graph.

Why a global graph rather than edge chasing: transactions here wait only for locks, each
at one participant, and the graph is small (a few dozen waiting transactions at most), so
one detector sees every cycle at once, picks one victim per cycle — the youngest
transaction, which has done the least work — and never aborts two transactions for one
deadlock, which probes started from several waiters at once can do.

How: every node whose transactions wait sends its wait-for edges (``wfg_report``) to the
detector, the lowest node id, every ``deadlock_interval_ms``. The detector looks for cycles
in the union of the latest reports. A cycle seen in reports sent at different times may be
a phantom — an edge may have gone since — so before it aborts anyone the detector asks the
nodes that reported the cycle's edges whether each edge is still there (``wfg_confirm``,
by wait id: the same wait, not just the same pair). Only a confirmed cycle is broken: the
detector sends ``abort_txn`` to the victim's coordinator. A waiting transaction cannot
move, so a cycle whose every edge is confirmed is a real deadlock. If the detector is down,
lock-wait timeouts (``lock_timeout_ms``) still end every wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from reference_nodes.common.maelstrom import Message, RPCError

if TYPE_CHECKING:
    from .node import TxnNode

Edge = tuple[str, str, int, str]  # waiter, holder, key, wait id


def find_cycle(edges: list[Edge]) -> list[Edge] | None:
    """One cycle of the wait-for graph, as its edges, or None."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge[0], []).append(edge)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    path: list[Edge] = []

    def visit(txn: str) -> list[Edge] | None:
        state[txn] = 1
        for edge in graph.get(txn, []):
            nxt = edge[1]
            if state.get(nxt) == 1:  # back to a transaction on the path: a cycle
                start = next((i for i, e in enumerate(path) if e[0] == nxt), len(path))
                return [*path[start:], edge]
            if nxt not in state:
                path.append(edge)
                found = visit(nxt)
                if found:
                    return found
                path.pop()
        state[txn] = 2
        return None

    for txn in sorted(graph):
        if txn not in state:
            found = visit(txn)
            if found:
                return found
    return None


class DeadlockDetector:
    def __init__(self, node: TxnNode, interval: float, enabled: bool) -> None:
        self.node = node
        self.interval = interval
        self.enabled = enabled
        self.detector = min(node.nodes)
        self.reports: dict[str, tuple[float, list[Edge]]] = {}
        self.started: dict[str, float] = {}
        self.since: dict[str, float] = {}  # wait id -> when the wait began (wall clock)
        self.found: list[dict[str, Any]] = []
        self.busy = False
        runtime = node.runtime
        runtime.on("wfg_report", self.on_report)
        runtime.on("wfg_confirm", self.on_confirm)
        if enabled:
            runtime.every(interval, self.tick)

    def local_edges(self) -> list[Edge]:
        edges = []
        for waiter, holder, key in self.node.locks.waits_for():
            part = self.node.parts.get(waiter)
            wait_id = part.wait_id if part is not None else ""
            edges.append((waiter, holder, key, wait_id))
        return edges

    def tick(self) -> None:
        edges = self.local_edges()
        starts = {p.txn: p.started for p in self.node.parts.values()}
        since = {p.wait_id: p.wait_since for p in self.node.parts.values() if p.wait_id}
        if self.node.me == self.detector:
            self.reports[self.node.me] = (time.monotonic(), edges)
            self.started.update(starts)
            self.since.update(since)
            if not self.busy:
                self.busy = True
                self.node.runtime.spawn(self.detect())
        elif edges:
            self.node.runtime.send(self.detector, {"type": "wfg_report", "edges": edges,
                                                   "started": starts, "since": since})

    def on_report(self, msg: Message) -> None:
        edges = [(str(a), str(b), int(k), str(w)) for a, b, k, w in msg.body["edges"]]
        self.reports[msg.src] = (time.monotonic(), edges)
        self.started.update(msg.body.get("started", {}))
        self.since.update(msg.body.get("since", {}))

    def on_confirm(self, msg: Message) -> dict[str, Any]:
        present = set(self.local_edges())
        asked = [tuple(e) for e in msg.body["edges"]]
        return {"type": "wfg_confirm_ok",
                "present": [list(e) for e in asked if (e[0], e[1], int(e[2]), e[3]) in present]}

    async def detect(self) -> None:
        """Find every cycle in the latest reports (one victim each, removed before looking
        for the next), confirm them all at once, break the confirmed ones."""
        try:
            now = time.monotonic()
            fresh = {n: edges for n, (at, edges) in self.reports.items()
                     if now - at <= 3 * self.interval}
            owner = {e: n for n, edges in fresh.items() for e in edges}
            remaining = set(owner)
            cycles: list[tuple[list[Edge], str]] = []
            while (cycle := find_cycle(sorted(remaining))) is not None:
                victim = max((e[0] for e in cycle),
                             key=lambda t: (self.started.get(t, 0.0), t))
                cycles.append((cycle, victim))
                remaining = {e for e in remaining if victim not in (e[0], e[1])}
            if not cycles:
                return
            confirmed = await asyncio.gather(*(self.confirmed(c, owner) for c, _ in cycles))
            for (cycle, victim), real in zip(cycles, confirmed, strict=True):
                if real:
                    self.break_cycle(cycle, victim)
        finally:
            self.busy = False

    def break_cycle(self, cycle: list[Edge], victim: str) -> None:
        txns = [e[0] for e in cycle]
        formed = max((self.since.get(e[3], 0.0) for e in cycle), default=0.0)
        self.found.append({"cycle": txns, "victim": victim, "t": time.time(),
                           "formed": formed or None, "edges": [list(e) for e in cycle]})
        coordinator = victim.split(".", 1)[0]
        self.node.runtime.send(coordinator, {"type": "abort_txn", "txn": victim,
                                             "cycle": txns})
        # Forget the victim's waits, so that the cycle is not found again from reports
        # sent before it was broken.
        for node, (at, edges) in list(self.reports.items()):
            self.reports[node] = (at, [e for e in edges if victim not in (e[0], e[1])])

    async def confirmed(self, cycle: list[Edge], owner: dict[Edge, str]) -> bool:
        by_node: dict[str, list[Edge]] = {}
        for edge in cycle:
            by_node.setdefault(owner[edge], []).append(edge)
        try:
            replies = await asyncio.gather(*(
                self.node.runtime.rpc(n, {"type": "wfg_confirm", "edges": edges},
                                      self.node.timeout)
                for n, edges in by_node.items()))
        except RPCError:
            return False
        present = sum(len(r.body.get("present", [])) for r in replies)
        return present == len(cycle)
