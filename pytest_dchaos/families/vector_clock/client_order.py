"""The causal order clients saw: each broadcast's causal past from the client history alone,
and every read judged against it.

This is the black-box half of causal delivery (what Jepsen judges of a causal store): it
believes nothing a node says about itself, only what the harness saw travel between its
clients and the nodes. A broadcast is known by its message (the workload's are unique) and
its origin is the node its ``cbcast`` went to. Broadcast ``m`` is in the causal past of
``m'``, broadcast on node A, when

* ``m`` was acknowledged on A before ``m'`` was invoked on A (program order: A sent ``m``
  first), or
* a read of A that returned before ``m'`` was invoked listed ``m`` (A had delivered ``m``
  when it sent ``m'``), or
* transitively, ``m`` is in the causal past of a broadcast that is in the past of ``m'``.

What this cannot see, and why: which broadcast a node-to-node message carried is not in the
message trace (the agents record times, endpoints, type, size and the body's ``msg_id``,
not the content); and a node that *received* ``m`` before it broadcast ``m'`` may have held
``m`` back, so ``m`` is not in the causal past of ``m'`` (Birman's causal past is what the
origin had *delivered*). Both need a node's event log — the reported half, in the
``causal_delivery`` check. Broadcasts whose client requests overlapped in time on one node
are left unordered here, as is anything a node knew before it crashed: a node without
stable storage forgets it, and a past larger than the node's would fail a correct node.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_dchaos.families.vector_clock.workload import (
    Clock,
    broadcast_clock,
    broadcast_message,
    read_clocks,
    read_messages,
)
from pytest_dchaos.record.history import INVOKE, OK, History
from pytest_dchaos.record.result import FaultEvent

#: Fault effects after which a node may have forgotten what it delivered.
FORGETTING = ("crash", "restart")


def message_key(message: Any) -> Hashable:
    """A broadcast's identity: its message, made hashable if a node's messages are not."""
    if isinstance(message, (dict, list)):
        return json.dumps(message, sort_keys=True, separators=(",", ":"))
    return message  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Read:
    """One successful read: what the node listed as delivered, in delivery order."""

    node: str
    process: str
    invoked: float
    returned: float
    messages: tuple[Hashable, ...]
    #: Beside each message, the sender and clock the node gave it (None: not kept).
    clocks: tuple[tuple[Any, Clock | None], ...] | None = None


@dataclass(frozen=True)
class Misorder:
    """Something wrong with one read: ``kind`` is ``"duplicate"``, ``"unknown"`` (never
    broadcast) or ``"order"`` (``message`` listed before, or without, ``cause``)."""

    kind: str
    message: Hashable
    position: int  # from 1
    cause: Hashable = None
    cause_position: int | None = None  # None: the read does not list it at all


@dataclass
class ClientOrder:
    """Every broadcast's causal past as the client history shows it (module docstring)."""

    #: Broadcast -> the node its cbcast went to.
    origin: dict[Hashable, str] = field(default_factory=dict)
    #: Broadcast -> when its cbcast was invoked.
    invoked: dict[Hashable, float] = field(default_factory=dict)
    #: Broadcast -> its bit in the pasts; and back.
    bit: dict[Hashable, int] = field(default_factory=dict)
    broadcasts: list[Hashable] = field(default_factory=list)
    #: Broadcast -> its causal past, a bitset over ``bit`` (transitively closed).
    past: dict[Hashable, int] = field(default_factory=dict)
    reads: list[Read] = field(default_factory=list)
    #: Broadcast -> the clock its cbcast_ok gave (acknowledged broadcasts that had one).
    acked_clock: dict[Hashable, Clock] = field(default_factory=dict)
    #: Broadcast -> which life of its origin it was invoked in (0 until the first crash or
    #: restart of that node): a node without stable storage starts its clock again.
    life: dict[Hashable, int] = field(default_factory=dict)
    #: Per node, what the history showed it knew, in order: (broadcast, why), and where
    #: each broadcast's window into that list starts and ends (for explanations).
    _learnt: dict[str, list[tuple[Hashable, str]]] = field(default_factory=dict)
    _window: dict[Hashable, tuple[int, int]] = field(default_factory=dict)

    def why(self, message: Hashable, cause: Hashable) -> str:
        """Why the history puts ``cause`` in the causal past of ``message``."""
        node = self.origin.get(message)
        lo, hi = self._window.get(message, (0, 0))
        for known, reason in (self._learnt.get(node, []) if node else [])[lo:hi]:
            if known == cause:
                return f"{reason} before {message!r} was broadcast there"
        return (f"{cause!r} is in the past of a broadcast {node} had seen before "
                f"{message!r} was broadcast there")

    def judge(self, messages: Sequence[Hashable]) -> list[Misorder]:
        """What is wrong with one read's list: a broadcast listed twice, one never
        broadcast, one listed before (or without) one in its causal past."""
        problems: list[Misorder] = []
        position: dict[Hashable, int] = {}
        listed = 0
        for at, message in enumerate(messages, start=1):
            if message in position:
                problems.append(Misorder("duplicate", message, at, message, position[message]))
                continue
            position[message] = at
            if message in self.bit:
                listed |= 1 << self.bit[message]
            else:
                problems.append(Misorder("unknown", message, at))
        before = 0
        for at, message in enumerate(messages, start=1):
            if position.get(message) != at:
                continue  # a duplicate, already reported
            missing = self.past.get(message, 0) & ~before
            if missing:
                # Name one the read lists later if there is one: the plainest evidence.
                later = missing & listed
                chosen = later or missing
                cause = self.broadcasts[(chosen & -chosen).bit_length() - 1]
                problems.append(Misorder("order", message, at, cause, position.get(cause)))
            if message in self.bit:
                before |= 1 << self.bit[message]
        return problems


def build(history: History, faults: Iterable[FaultEvent] = ()) -> ClientOrder:
    """The causal past of every broadcast the history shows (see the module docstring)."""
    order = ClientOrder()
    ops = history.ops
    forget = sorted((e.time, n) for e in faults
                    if e.effect in FORGETTING and e.action in ("start", "end")
                    for n in e.nodes)
    for op in ops:  # every broadcast first: a read may list one whose cbcast is still open
        if op.f == "cbcast" and op.type == INVOKE and op.node is not None:
            key = message_key(op.value)
            if key not in order.bit:
                order.bit[key] = len(order.broadcasts)
                order.broadcasts.append(key)
                order.origin[key], order.invoked[key] = op.node, op.time
                order.life[key] = sum(1 for t, n in forget if n == op.node and t <= op.time)
    known: dict[str, int] = {}
    invocations: dict[str, float] = {}
    for op in ops:
        while forget and forget[0][0] <= op.time:
            _, crashed = forget.pop(0)
            known[crashed] = 0
            order._learnt.setdefault(crashed, []).append((None, "restarted"))
        node = op.node
        if node is None:
            continue
        if op.type == INVOKE:
            invocations[op.process] = op.time
            if op.f == "cbcast":
                key = message_key(op.value)
                if order.origin.get(key) == node and key not in order.past:
                    order.past[key] = known.get(node, 0)
                    learnt = order._learnt.setdefault(node, [])
                    order._window[key] = (_life_start(learnt), len(learnt))
            continue
        invoked_at = invocations.pop(op.process, op.time)
        if op.type != OK:
            continue
        if op.f == "cbcast":
            message = broadcast_message(op.value)
            clock = broadcast_clock(op.value)
            if clock is not None:
                order.acked_clock.setdefault(message_key(message), clock)
            _learn(order, known, node, message_key(message),
                   f"{message!r} was acknowledged on {node} at {op.time:.3f}s")
        elif op.f == "read" and (listed := read_messages(op.value)) is not None:
            messages = tuple(message_key(m) for m in listed)
            clocks = read_clocks(op.value)
            order.reads.append(Read(node, op.process, invoked_at, op.time, messages,
                                    tuple(clocks) if clocks is not None
                                    and len(clocks) == len(messages) else None))
            for key in messages:
                _learn(order, known, node, key,
                       f"{node} listed {key!r} in a read that returned at {op.time:.3f}s")
    return order


def _life_start(learnt: list[tuple[Hashable, str]]) -> int:
    for at in range(len(learnt) - 1, -1, -1):
        if learnt[at][0] is None:
            return at + 1
    return 0


def _learn(order: ClientOrder, known: dict[str, int], node: str, key: Hashable,
           why: str) -> None:
    bit = order.bit.get(key)
    if bit is None:
        return  # never broadcast: the read is reported for it, and it orders nothing
    mine = known.get(node, 0)
    if not mine >> bit & 1:
        known[node] = mine | 1 << bit | order.past.get(key, 0)
        order._learnt.setdefault(node, []).append((key, why))
