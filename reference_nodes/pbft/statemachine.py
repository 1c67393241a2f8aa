"""The replicated service: a key-value store with ``read``, ``write`` and ``cas``, plus
the table of each client's last reply (so a retransmitted request is answered, not run
twice). Deterministic: every honest replica that executes the same log holds the same
state, and :meth:`digest` is what checkpoints compare."""

from __future__ import annotations

import copy
from typing import Any

from reference_nodes.pbft.crypto import JSON, digest


def check_op(op: Any) -> str | None:
    """What is wrong with a client's ``op``, or None."""
    if not isinstance(op, dict):
        return "op must be an object"
    f = op.get("f")
    if f not in ("read", "write", "cas"):
        return f"op.f must be read, write or cas, not {f!r}"
    if "key" not in op or isinstance(op["key"], (dict, list)):
        return "op.key must be a string or a number"
    if f == "write" and "value" not in op:
        return "a write needs op.value"
    if f == "cas" and ("from" not in op or "to" not in op):
        return "a cas needs op.from and op.to"
    return None


class StateMachine:
    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        #: client -> [timestamp, result] of the last request executed for it.
        self.last: dict[str, list[Any]] = {}

    def last_timestamp(self, client: str) -> int:
        entry = self.last.get(client)
        return int(entry[0]) if entry else -1

    def cached_result(self, client: str, timestamp: int) -> Any:
        entry = self.last.get(client)
        return entry[1] if entry and entry[0] == timestamp else None

    def execute(self, request: JSON) -> Any | None:
        """Run ``request`` unless its client already had it (or a later one) run; its
        result, or None when it was a duplicate."""
        client, timestamp = str(request["client"]), int(request["timestamp"])
        if timestamp <= self.last_timestamp(client):
            return None
        result = self.apply(request["op"])
        self.last[client] = [timestamp, result]
        return result

    def apply(self, op: JSON) -> JSON:
        key = str(op["key"])  # JSON object keys are strings: 1 and "1" are one key
        f = op["f"]
        if f == "read":
            if key not in self.store:
                return {"type": "error", "code": 20, "text": f"key {op['key']!r} does not exist"}
            return {"type": "read_ok", "value": self.store[key]}
        if f == "write":
            self.store[key] = op["value"]
            return {"type": "write_ok"}
        if key not in self.store:
            return {"type": "error", "code": 20, "text": f"key {op['key']!r} does not exist"}
        if self.store[key] != op["from"]:
            return {"type": "error", "code": 22,
                    "text": f"expected {op['from']!r}, found {self.store[key]!r}"}
        self.store[key] = op["to"]
        return {"type": "cas_ok"}

    def snapshot(self) -> JSON:
        return copy.deepcopy({"store": self.store, "last": self.last})

    def restore(self, state: JSON) -> None:
        self.store = copy.deepcopy(state["store"])
        self.last = copy.deepcopy(state["last"])

    def digest(self) -> str:
        return digest({"store": self.store, "last": self.last})


def state_digest(state: JSON) -> str:
    return digest({"store": state.get("store"), "last": state.get("last")})
