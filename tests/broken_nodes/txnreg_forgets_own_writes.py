#!/usr/bin/env python3
"""Broken txn-rw-register node: a transaction does not see its own writes.

Bug: writes are buffered and applied when the transaction ends, and reads go straight to
the store, so ``[["w", 1, 5], ["r", 1, null]]`` reads what key 1 held before, not 5. A
single node, no replication: the careless first try at Gossip Glomers challenge 6a.

Must be caught by: isolation (internal), at every consistency model, in txn-rw-register-6a.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, require

node = Node()
store: dict[int, Any] = {}


@node.handler("txn")
def txn(msg: Message) -> dict[str, Any]:
    done, writes = [], {}
    for kind, key, value in require(msg.body, "txn", list):
        if kind == "w":
            writes[key] = value
            done.append(["w", key, value])
        else:
            done.append(["r", key, store.get(key)])
    store.update(writes)
    return {"type": "txn_ok", "txn": done}


if __name__ == "__main__":
    raise SystemExit(node.run())
