"""The transaction family's clients: transactions of reads and unique writes over a
small key space, in Maelstrom's txn-rw-register format.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome

#: Maelstrom's codes for an aborted transaction: certainly not committed.
ABORT_CODES = frozenset({14, 30})


class TxnWorkload(Workload):
    """Transactions of ``min_ops``..``max_ops`` reads and writes over ``keys`` keys."""

    def __init__(self, keys: int, min_ops: int, max_ops: int, read_ratio: float) -> None:
        self.keys, self.min_ops, self.max_ops = keys, min_ops, max_ops
        self.read_ratio = read_ratio
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        ops: list[list[Any]] = []
        for _ in range(rng.randint(self.min_ops, self.max_ops)):
            key = rng.randrange(self.keys)
            if rng.random() < self.read_ratio:
                ops.append(["r", key, None])
            else:
                with self._lock:
                    value = self._next[key] = self._next.get(key, 0) + 1
                ops.append(["w", key, value])
        return "txn", ops

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "txn", "txn": value}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        done = reply.get("txn")
        if reply.get("type") != "txn_ok" or not isinstance(done, list) \
                or len(done) != len(value):
            return INFO, value
        return OK, done

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        return FAIL if code in ABORT_CODES or code == 12 else INFO

    def timeout_outcome(self, f: str) -> Outcome:
        return INFO
