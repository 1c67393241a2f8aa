"""The vector-clock family's clients: causal broadcasts, reads of what a node
delivered, transfers of the resource between nodes, and snapshots.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any

from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome


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
            return OK, [d.get("message") for d in delivered if isinstance(d, dict)]
        if f == "snapshot":
            return OK, reply.get("id")
        return OK, value

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        # A refused transfer (short balance) or snapshot changed nothing.
        return FAIL if f in ("transfer", "snapshot") and code is not None else \
            super().error_outcome(f, code)
