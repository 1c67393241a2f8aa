"""What the agents saw travel between nodes: the observed half of every vector-clock check
that holds a node's event log to the truth.

The agents record each message a node writes (``send``, with the body's own ``msg_id`` as
``mi``) and each message they hand to a node (``recv``). A message is known by
``(src, mi, dest)``: the name a node's log gives it (a send's ``to: {dest: msg_id}``, a
receive's ``from`` and ``msg_id``). A retransmission keeps its ``msg_id``: it is the same
message, written again.

Every record about a node — what it wrote, what it was handed, its replies to the harness —
is written by that node's own agent, in the order it happened, and the run's trace keeps
each agent's order (``RunRecord.trace``). So :attr:`Wire.at` positions compare *within one
node*: "n2 was handed m before it wrote x" is the agent's word. Positions of two different
nodes do not compare (their agents' clocks and files are separate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_dchaos.record.result import RunRecord

#: A message between nodes: (src, msg_id as the sender wrote it, dest).
Key = tuple[str, Any, str]
#: The reply a node gives the harness's state query (its log's end, for a live node).
STATE_REPLY = "dchaos_state_ok"


@dataclass
class Wire:
    """The message trace, indexed for the vector-clock checks."""

    #: Per channel (src, dest): each ``msg_id`` in the order the sender first wrote it.
    sent: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    #: Each message's type, as the agent read it from the body.
    types: dict[Key, str] = field(default_factory=dict)
    #: Where (in its sender's agent's order) each message was first written, and when.
    written: dict[Key, int] = field(default_factory=dict)
    written_t: dict[Key, float] = field(default_factory=dict)
    #: Where (in its receiver's agent's order) each copy of a message was handed over.
    arrivals: dict[Key, list[int]] = field(default_factory=dict)
    arrived_t: dict[Key, float] = field(default_factory=dict)
    #: Per node, where it last answered the harness's state query (what it reported ends
    #: there); absent when the trace has no such reply.
    state_reply: dict[str, int] = field(default_factory=dict)
    #: Nodes whose agent lost part of its trace: another agent handed over a message of
    #: theirs that their own trace never shows written (an agent killed with its container
    #: loses what it had not flushed). What the trace does *not* show about their messages
    #: proves nothing.
    torn: set[str] = field(default_factory=set)

    def complete(self, *nodes: str) -> bool:
        """Whether the trace of every one of ``nodes`` is whole (absence there is evidence)."""
        return not self.torn.intersection(nodes)

    def torn_note(self) -> str:
        if not self.torn:
            return ""
        names = ", ".join(sorted(self.torn))
        return (f" (the trace lost records of {names} — an agent killed before it flushed — "
                "so what is missing about messages to or from it is not held against anyone)")

    def first_arrival(self, key: Key) -> int | None:
        times = self.arrivals.get(key)
        return times[0] if times else None

    def arrived(self, key: Key) -> bool:
        return key in self.arrivals

    def when(self, key: Key) -> str:
        """When the message was first written and first handed over, for a sentence."""
        parts = []
        if key in self.written_t:
            parts.append(f"written at {self.written_t[key]:.3f}")
        if key in self.arrived_t:
            parts.append(f"handed to {key[2]} at {self.arrived_t[key]:.3f}")
        return " and ".join(parts) or "never in the trace"


def wire(record: RunRecord) -> Wire:
    """The run's :class:`Wire` (built once per record)."""
    return record.derive("vc_wire", lambda r: read(r.trace()))


def read(trace: Iterable[Mapping[str, Any]]) -> Wire:
    """Index ``trace`` (every agent's records; each agent's in its order)."""
    result = Wire()
    by_mid: dict[str, Key] = {}
    every_mid: set[str] = set()
    handed: list[tuple[int, str, str, str, float]] = []
    for at, entry in enumerate(trace):
        ev = entry.get("ev")
        if ev == "send":
            every_mid.add(str(entry.get("id")))
        if ev == "send" and "mi" in entry:
            src, dest, mi = str(entry.get("src")), str(entry.get("dest")), entry["mi"]
            if not isinstance(mi, (int, str)):
                continue  # a msg_id no log could name
            key = (src, mi, dest)
            by_mid[str(entry.get("id"))] = key
            if key not in result.written:
                result.written[key] = at
                result.written_t[key] = float(entry.get("t", 0.0))
                result.types[key] = str(entry.get("type"))
                result.sent.setdefault((src, dest), []).append(mi)
        elif ev == "recv":
            handed.append((at, str(entry.get("id")), str(entry.get("src")),
                           str(entry.get("dest")), float(entry.get("t", 0.0))))
        elif ev == "client_out" and entry.get("type") == STATE_REPLY:
            result.state_reply[str(entry.get("src"))] = at
    # A receiver's agent may come before the sender's in the trace: match by id afterwards.
    for at, mid, src, dest, t in handed:
        if mid not in every_mid:
            result.torn.add(src)
        found = by_mid.get(mid)
        if found is None or found[2] != dest:
            continue
        result.arrivals.setdefault(found, []).append(at)
        result.arrived_t.setdefault(found, t)
    return result


@dataclass
class Named:
    """The messages the nodes' event logs name, by :data:`Key` (reported evidence)."""

    #: Each logged send of a message: (position in the sender's log, the event).
    sends: dict[Key, tuple[int, Mapping[str, Any]]] = field(default_factory=dict)
    #: Each logged receive: positions in the receiver's log (more than one is a fault).
    receives: dict[Key, list[int]] = field(default_factory=dict)
    #: Markers, by key: the snapshot each belongs to (by the sender's or receiver's log).
    markers: dict[Key, Any] = field(default_factory=dict)

    def channel_types(self, wire: Wire) -> set[str]:
        """The message types the nodes treat as channel messages: those their logs name.
        Anything else (acknowledgements, say) is control traffic no log accounts for."""
        return {wire.types[k] for k in (*self.sends, *self.receives) if k in wire.types}


def named(logs: Mapping[str, Iterable[Mapping[str, Any]]]) -> Named:
    result = Named()
    for node, events in logs.items():
        for position, event in enumerate(events, start=1):
            kind = event.get("kind")
            if kind == "send":
                for dest, msg_id in (event.get("to") or {}).items():
                    if not isinstance(msg_id, (int, str)):
                        continue
                    key = (node, msg_id, str(dest))
                    result.sends.setdefault(key, (position, event))
                    if event.get("what") == "marker":
                        result.markers[key] = event.get("id")
            elif kind == "receive":
                msg_id = event.get("msg_id")
                if not isinstance(msg_id, (int, str)):
                    continue
                key = (str(event.get("from")), msg_id, node)
                result.receives.setdefault(key, []).append(position)
                if event.get("what") == "marker":
                    result.markers.setdefault(key, event.get("id"))
    return result
