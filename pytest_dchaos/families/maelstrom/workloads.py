"""The clients of Maelstrom's small workloads, with Maelstrom's messages and operations.

Each keeps to what its Maelstrom workload sends, so a node written for Maelstrom answers
them unchanged: ``echo {echo}`` → ``echo_ok {echo}``; ``generate`` → ``generate_ok {id}``;
``add {delta}`` → ``add_ok`` and ``read`` → ``read_ok {value}``; ``read {key}``, ``write
{key, value}`` and ``cas {key, from, to}`` for lin-kv. A reply of another type
leaves an operation that may have changed something unknown (info); a read that gets one
simply failed, as reads change nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from pytest_dchaos.checkers.linearizability import RegisterDraws
from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome


class EchoWorkload(Workload):
    """``echo`` with a text each time, as Maelstrom's ``Please echo 17``. The operation's
    value is the text sent; its ok value is the reply's ``echo``, which the ``echo`` check
    compares with it."""

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return "echo", f"Please echo {rng.randrange(128)}"

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "echo", "echo": value}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if reply.get("type") != "echo_ok":
            return INFO, None
        return OK, reply.get("echo")

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        # An echo changes nothing: however it went wrong, it did not happen.
        return FAIL

    def timeout_outcome(self, f: str) -> Outcome:
        return FAIL


class UniqueIdsWorkload(Workload):
    """``generate``, and nothing else. An id may be any JSON value (Maelstrom's rule); the
    ok value is the id. A generate that timed out is unknown: it may have used an id."""

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return "generate", None

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "generate"}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if reply.get("type") == "generate_ok" and "id" in reply:
            return OK, reply["id"]
        return INFO, None


class CounterWorkload(Workload):
    """Maelstrom's counter clients: half adds, half reads (its ``gen/mix``). Deltas are
    Maelstrom's, ``rand-int 10`` minus 5: -5..4 for the pn-counter; the g-counter keeps
    only the non-negative ones, 0..4."""

    def __init__(self, read_ratio: float, negative: bool) -> None:
        self.read_ratio = read_ratio
        self.lowest = -5 if negative else 0

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        if rng.random() < self.read_ratio:
            return "read", None
        return "add", rng.randint(self.lowest, 4)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "add", "delta": value} if f == "add" else {"type": "read"}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if f == "add":
            return (OK, value) if reply.get("type") == "add_ok" else (INFO, value)
        read = reply.get("value")
        if reply.get("type") == "read_ok" and isinstance(read, int) and not isinstance(
                read, bool):
            return OK, read
        return FAIL, None


class LinKvWorkload(Workload):
    """Maelstrom's lin-kv clients: ``read``, ``write`` and ``cas`` on a few keys, each
    request to one node (any node: the node must relay or redirect what it cannot answer).
    Every write and cas gives its key a value never written to it before, and a cas expects
    the last value written or the one before, so that some succeed and some fail (22). The
    history's values are the linearizability checker's: ``{"key", "value"}`` for reads
    and writes, ``{"key", "from", "to"}`` for cas."""

    def __init__(self, keys: int, read_ratio: float, cas_ratio: float) -> None:
        self._draws = RegisterDraws(keys, read_ratio, cas_ratio)

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return self._draws.draw(rng)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": f, **value}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if reply.get("type") != f"{f}_ok":
            return INFO, value
        if f == "read":
            return OK, {**value, "value": reply.get("value")}
        return OK, value

    def timeout_outcome(self, f: str) -> Outcome:
        # A read that never came back changed nothing: Maelstrom counts it failed.
        return FAIL if f == "read" else INFO
