"""The grow-only counter's clients: ``add {delta}`` and ``read``, as in Maelstrom's
g-counter workload.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome


class CounterWorkload(Workload):
    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return ("read", None) if rng.random() < 0.2 else ("add", rng.randint(1, 5))

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "add", "delta": value} if f == "add" else {"type": "read"}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if f == "add":  # an add whose answer makes no sense may still have happened
            return (OK, value) if reply.get("type") == "add_ok" else (INFO, value)
        read = reply.get("value")
        if reply.get("type") == "read_ok" and isinstance(read, int):
            return (OK, read)
        return (FAIL, None)  # a read changes nothing: a bad answer is a failed read
