"""``python3 -m reference_nodes.maelstrom.lin_kv``: a linearizable key-value store for
Maelstrom's lin-kv workload, kept by one node.

The first node of the cluster (by id order) holds the only copy of the store and applies
``read``, ``write`` and ``cas`` one at a time, in the order they reach it; every other node
relays each client request to it unchanged, the client still its ``src``, and the holder
answers the client itself. One copy changed in one order is linearizable: each operation
takes effect when the holder applies it, between the client's request and its reply.

It is not fault tolerant, and says so: a request relayed across a partition is never
answered (the client's timeout makes it unknown, which linearizability allows), and the
store is in memory, so a crash of the holder loses it — a scenario that kills it fails, as
it should. Its point is the workload and its checker, and relaying: a Raft node such as
Maelstrom's demo proxies to its leader the same way.

Errors are Maelstrom's: 20 (key does not exist) for a read or cas of a missing key, 22
(precondition failed) for a cas whose ``from`` is not the value.
"""

from __future__ import annotations

import json
from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError, require

KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22


class LinKvNode(Node):
    def __init__(self) -> None:
        super().__init__()
        self.store: dict[str, Any] = {}
        for kind in ("read", "write", "cas"):
            self.on(kind, self.handle)

    @property
    def holder(self) -> str:
        return min(self.node_ids, key=lambda n: (len(n), n))

    def handle(self, msg: Message) -> dict[str, Any] | None:
        if self.node_id != self.holder:
            self.relay(self.holder, msg)
            return None
        key = _key(msg.body)
        if msg.type == "write":
            self.store[key] = msg.body.get("value")
            return {"type": "write_ok"}
        if key not in self.store:
            raise RPCError(KEY_DOES_NOT_EXIST, f"key {msg.body.get('key')!r} does not exist")
        if msg.type == "read":
            return {"type": "read_ok", "value": self.store[key]}
        if self.store[key] != msg.body.get("from"):
            raise RPCError(PRECONDITION_FAILED, f"expected {msg.body.get('from')!r}, "
                           f"had {self.store[key]!r}")
        self.store[key] = msg.body.get("to")
        return {"type": "cas_ok"}


def _key(body: dict[str, Any]) -> str:
    """Keys may be any JSON value: compared by their JSON text."""
    return json.dumps(require(body, "key", object), sort_keys=True)


if __name__ == "__main__":
    raise SystemExit(LinKvNode().run())
