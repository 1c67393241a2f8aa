"""Happens-before, computed by the harness: the ground truth the vector-clock checks use.

Inputs are what each node logged (its event log from ``dchaos_state``: the order of its own
events, and which messages each send and receive concerns, by ``msg_id``) and what the
agents saw travel (the message trace, where each send records the body's ``msg_id``). A
node's program order can only come from the node; which message reached which receive is
the trace's word, not the node's: a receive the trace does not confirm is not an edge, and
is reported; so is a log that puts a node's sends to one peer in another order than the
agent saw them leave. Happens-before is the transitive closure of program order and those message
edges, and the harness encodes it in its own vector clocks (``H``, one entry per node,
counting that node's events in the past of an event, the event itself included). Then
``e`` happened before ``f`` exactly when ``H(f)[node(e)] >= index(e)`` — a test in O(1),
so a whole history of 100,000 events is judged in seconds.

Broadcasts get a second relation, the one causal delivery is about (Birman et al.): a
broadcast's causal past is what its origin had delivered (and broadcast) before it, with
deliveries standing for the receipt. :attr:`Causality.causal_past` holds it per broadcast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

Event = Mapping[str, Any]
Ref = tuple[str, int]  # (node, position of the event in its log, from 1)


@dataclass
class Causality:
    nodes: tuple[str, ...]
    #: Each node's events in its order (position p is ``events[node][p - 1]``).
    events: dict[str, list[Event]]
    #: The harness's clock of each event, aligned with ``events``: a tuple, one entry per
    #: node in ``nodes`` order.
    clocks: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    #: For each receive (by ref), the send it took (by ref), where the trace confirms it.
    edges: dict[Ref, Ref] = field(default_factory=dict)
    #: Broadcast (origin, seq_b) -> {origin: highest seq_b} in its causal past.
    causal_past: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    #: Broadcast (origin, seq_b) -> ref of its send event.
    broadcasts: dict[tuple[str, int], Ref] = field(default_factory=dict)
    #: What does not add up, as sentences a person can check (capped lists by kind).
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    problem_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def column(self, node: str) -> int:
        return self.nodes.index(node)

    def happened_before(self, e: Ref, f: Ref) -> bool:
        if e == f:
            return False
        return self.clocks[f[0]][f[1] - 1][self.column(e[0])] >= e[1]

    def total_events(self) -> int:
        return sum(len(v) for v in self.events.values())

    def problem(self, kind: str, text: str) -> None:
        self.problem_counts[kind] += 1
        if len(self.problems[kind]) < 10:
            self.problems[kind].append(text)


def delivered_sends(trace: Iterable[Mapping[str, Any]]) -> set[tuple[str, Any, str]]:
    """``(src, msg_id, dest)`` of every message the agents delivered to its destination
    (a retransmission reuses its ``msg_id``; one delivered copy is enough)."""
    return _read_trace(trace)[0]


def _read_trace(trace: Iterable[Mapping[str, Any]]
                ) -> tuple[set[tuple[str, Any, str]], dict[tuple[str, str], list[Any]]]:
    """The delivered messages, and per channel (src, dest) the ``msg_id`` s in the order
    the agent first saw them leave (what the node wrote, in the order it wrote it)."""
    sent: dict[str, tuple[str, Any, str]] = {}
    received: set[tuple[str, str]] = set()
    order: dict[tuple[str, str], dict[Any, None]] = {}
    for entry in trace:
        ev = entry.get("ev")
        if ev == "send" and "mi" in entry:
            sent[entry["id"]] = (entry["src"], entry["mi"], entry["dest"])
            order.setdefault((entry["src"], entry["dest"]), {}).setdefault(entry["mi"], None)
        elif ev == "recv":
            received.add((entry["id"], entry["dest"]))
    delivered = {key for mid, key in sent.items() if (mid, key[2]) in received}
    return delivered, {channel: list(ids) for channel, ids in order.items()}


def _check_send_order(result: Causality, order: Mapping[tuple[str, str], list[Any]]) -> None:
    """A node's log must put its sends in the order the agent saw them leave: program
    order comes from the log, and this is the part of it the trace can vouch for."""
    for node, events in result.events.items():
        logged: dict[str, list[Any]] = {}
        for event in events:
            if event.get("kind") == "send":
                for dest, msg_id in (event.get("to") or {}).items():
                    logged.setdefault(dest, []).append(msg_id)
        for dest, ids in logged.items():
            seen = order.get((node, dest), [])
            rank = {msg_id: i for i, msg_id in enumerate(seen)}
            ranked = [rank[m] for m in ids if m in rank]
            for before, after in pairwise(ranked):
                if after < before:
                    result.problem("send_order",
                                   f"{node} logged its send of msg_id {seen[before]} to "
                                   f"{dest} before msg_id {seen[after]}, but wrote them the "
                                   "other way round")
                    break


def build(logs: Mapping[str, Sequence[Event]], nodes: Sequence[str],
          trace: Iterable[Mapping[str, Any]]) -> Causality:
    """The harness's happens-before over every logged event (see the module docstring)."""
    known = tuple(nodes)
    result = Causality(known, {n: list(logs.get(n, ())) for n in known})
    delivered, order = _read_trace(trace)
    _check_send_order(result, order)
    sends: dict[tuple[str, Any, str], Ref] = {}
    for node, events in result.events.items():
        for position, event in enumerate(events, start=1):
            if event.get("kind") == "send":
                for dest, msg_id in (event.get("to") or {}).items():
                    sends[(node, msg_id, dest)] = (node, position)
                if event.get("what") == "cbcast" and "seq_b" in event:
                    result.broadcasts[(node, event["seq_b"])] = (node, position)
    for node, events in result.events.items():
        for position, event in enumerate(events, start=1):
            if event.get("kind") != "receive":
                continue
            key = (event.get("from"), event.get("msg_id"), node)
            if key not in delivered:
                result.problem("unconfirmed_receive",
                               f"{node} logged event {position} as a receive of msg_id "
                               f"{key[1]} from {key[0]}, which the trace never carried "
                               f"to {node}")
            elif key in sends:
                result.edges[(node, position)] = sends[key]
            else:
                result.problem("unlogged_send",
                               f"{node} received msg_id {key[1]} from {key[0]} (the "
                               f"trace agrees), but {key[0]}'s log has no such send")
    _traverse(result)
    return result


def _traverse(result: Causality) -> None:
    """Every event's H clock and every broadcast's causal past, visiting events in an
    order that respects every edge (Kahn's algorithm, node by node).

    Only trace-confirmed receive edges enter the clocks; a delivery only waits for its
    broadcast to be visited, so that the broadcast's causal past is known by then.
    """
    width = len(result.nodes)
    clocks: dict[str, list[tuple[int, ...]]] = {n: [] for n in result.nodes}
    known: dict[str, dict[str, int]] = {n: {} for n in result.nodes}
    done = dict.fromkeys(result.nodes, 0)

    def waits_for(node: str, event: Event, position: int) -> Ref | None:
        if event.get("kind") == "deliver" and event.get("origin") != node:
            return result.broadcasts.get((str(event.get("origin")), _int(event.get("seq_b"))))
        return result.edges.get((node, position))

    def visit(node: str, column: int, event: Event, position: int, ordered: bool) -> None:
        mine = clocks[node]
        clock = list(mine[-1]) if mine else [0] * width
        source = result.edges.get((node, position)) if ordered else None
        if source is not None:
            theirs = clocks[source[0]][source[1] - 1]
            clock = [a if a >= b else b for a, b in zip(clock, theirs, strict=True)]
        clock[column] = position
        mine.append(tuple(clock))
        _learn(result, known[node], node, event)
        done[node] = position

    remaining = result.total_events()
    while remaining:
        progressed = False
        for column, node in enumerate(result.nodes):
            events = result.events[node]
            while done[node] < len(events):
                position = done[node] + 1
                event = events[position - 1]
                source = waits_for(node, event, position)
                if source is not None and done[source[0]] < source[1]:
                    break  # what it depends on is not visited yet
                visit(node, column, event, position, ordered=True)
                remaining -= 1
                progressed = True
        if not progressed:
            stuck = [f"{n} event {done[n] + 1}" for n in result.nodes
                     if done[n] < len(result.events[n])]
            result.problem("cycle", "the logs put an event before what it depends on (a "
                           f"cycle through {', '.join(stuck[:4])}); judged without those "
                           "edges from there on")
            for column, node in enumerate(result.nodes):
                events = result.events[node]
                while done[node] < len(events):
                    visit(node, column, events[done[node]], done[node] + 1, ordered=False)
            break
    result.clocks = clocks


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _learn(result: Causality, known: dict[str, int], node: str, event: Event) -> None:
    """Causal broadcast's knowledge: a delivery adds the broadcast and its causal past; a
    broadcast's causal past is what its origin knew when it sent it."""
    kind = event.get("kind")
    if kind == "deliver":
        origin, seq = event.get("origin"), event.get("seq_b")
        if not isinstance(origin, str) or not isinstance(seq, int):
            return
        for other, count in result.causal_past.get((origin, seq), {}).items():
            if count > known.get(other, 0):
                known[other] = count
        if seq > known.get(origin, 0):
            known[origin] = seq
    elif kind == "send" and event.get("what") == "cbcast" and "seq_b" in event:
        result.causal_past[(node, event["seq_b"])] = dict(known)
