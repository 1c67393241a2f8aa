"""The vector-clock family's clients: causal broadcasts, reads of what a node
delivered, transfers of the resource between nodes, and snapshots.

What the history keeps of a reply is what the checks need, and no more: an acknowledged
``cbcast`` keeps its message and the clock ``cbcast_ok`` gave it (``{"message", "vc"}``); a
read keeps the messages in delivery order and, beside them, the sender and clock the node
gave each (``{"messages": [...], "clocks": [[sender, vc], ...]}``, zero entries left out).
:func:`broadcast_message`, :func:`read_messages` and :func:`read_clocks` read both these and
the plain values of older histories (a cbcast's message, a read's list of messages).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any, TypeAlias

from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome

#: A clock as the history keeps it: node -> count, zero entries left out.
Clock: TypeAlias = dict[str, int]
_ACKED = frozenset({"message", "vc"})
_READ = frozenset({"messages", "clocks"})


def compact_clock(vc: Any) -> Clock | None:
    """A node's clock with its zero entries left out; None if it is not a clock."""
    if not isinstance(vc, Mapping):
        return None
    if not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
               for k, v in vc.items()):
        return None
    return {k: v for k, v in sorted(vc.items()) if v}


def broadcast_message(value: Any) -> Any:
    """The message of a cbcast's completion value."""
    if isinstance(value, dict) and set(value) == _ACKED:
        return value["message"]
    return value


def broadcast_clock(value: Any) -> Clock | None:
    """The clock ``cbcast_ok`` gave, if the history kept one."""
    if isinstance(value, dict) and set(value) == _ACKED:
        return compact_clock(value["vc"])
    return None


def read_messages(value: Any) -> list[Any] | None:
    """The messages a read listed, in delivery order (None: not a read's value)."""
    if isinstance(value, dict) and set(value) == _READ and isinstance(value["messages"], list):
        return list(value["messages"])
    return list(value) if isinstance(value, list) else None


def read_clocks(value: Any) -> list[tuple[Any, Clock | None]] | None:
    """Beside each message of a read, the sender and clock the node gave it (None: the
    history kept none)."""
    if not (isinstance(value, dict) and set(value) == _READ
            and isinstance(value["clocks"], list)):
        return None
    return [(entry[0], compact_clock(entry[1]))
            if isinstance(entry, list) and len(entry) == 2 else (None, None)
            for entry in value["clocks"]]


class CausalWorkload(Workload):
    """cbcast of unique integers, reads, transfers and snapshots, mixed by ratios."""

    def __init__(self, read_ratio: float, transfer_ratio: float, snapshot_ratio: float,
                 max_amount: int) -> None:
        self.ratios = (("read", read_ratio), ("transfer", transfer_ratio),
                       ("snapshot", snapshot_ratio))
        self.max_amount = max_amount
        self._values = itertools.count(1)
        self._lock = threading.Lock()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        draw = rng.random()
        for f, ratio in self.ratios:
            if draw < ratio:
                if f == "transfer":
                    return f, {"amount": rng.randint(1, self.max_amount),
                               "pick": rng.randrange(1 << 30)}
                return f, None
            draw -= ratio
        with self._lock:
            return "cbcast", next(self._values)

    def bind(self, node: str, f: str, value: Any, nodes: tuple[str, ...], client: str) -> Any:
        if f != "transfer":
            return value
        others = [n for n in nodes if n != node]
        if not others:
            return value
        return {"to": others[value["pick"] % len(others)], "amount": value["amount"]}

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "cbcast":
            return {"type": "cbcast", "message": value}
        if f == "transfer":
            return {"type": "transfer", "to": value.get("to"), "amount": value["amount"]}
        return {"type": f}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        expected = f"{f}_ok"
        if reply.get("type") != expected:
            return (FAIL, None) if f == "read" else (INFO, value)
        if f == "read":
            delivered = reply.get("delivered")
            if not isinstance(delivered, list):
                return FAIL, None
            entries = [d for d in delivered if isinstance(d, dict)]
            return OK, {"messages": [d.get("message") for d in entries],
                        "clocks": [[d.get("sender"), compact_clock(d.get("vc"))]
                                   for d in entries]}
        if f == "snapshot":
            return OK, reply.get("id")
        if f == "cbcast":
            return OK, {"message": value, "vc": compact_clock(reply.get("vc"))}
        return OK, value

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        # A refused transfer (short balance) or snapshot changed nothing.
        return FAIL if f in ("transfer", "snapshot") and code is not None else \
            super().error_outcome(f, code)
