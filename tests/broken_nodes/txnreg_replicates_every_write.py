#!/usr/bin/env python3
"""Broken txn-rw-register node: it replicates every write of a transaction, not only the
last one to each key, and keeps the first it gets of a transaction.

Bug: each ``["w", k, v]`` is sent to the peers as it is executed, stamped with its
transaction's Lamport stamp, and a peer applies a write only over an older stamp. When a
transaction writes a key twice, both writes carry the same stamp: the peer installs the
first and ignores the second, so its clients read a value the transaction overwrote
itself — an intermediate write, for good. Every node answers at once and replication
never stops, so it is totally available and converges on something; read uncommitted
allows what it shows.

Must be caught by: isolation (G1b) at read committed (txn-rw-register-6c); passes at read
uncommitted (6b).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, require

node = Node()
store: dict[int, tuple[Any, tuple[int, str]]] = {}
clock = 0


@node.handler("txn")
def txn(msg: Message) -> dict[str, Any]:
    global clock
    clock += 1
    stamp = (clock, str(node.node_id))
    done = []
    peers = [n for n in node.node_ids if n != node.node_id]
    for kind, key, value in require(msg.body, "txn", list):
        if kind == "w":
            store[key] = (value, stamp)
            node.send_all(peers, {"type": "replicate", "write": [key, value, *stamp]})
            done.append(["w", key, value])
        else:
            current = store.get(key)
            done.append(["r", key, current[0] if current else None])
    return {"type": "txn_ok", "txn": done}


@node.handler("replicate")
def replicate(msg: Message) -> None:
    global clock
    key, value, tick, origin = require(msg.body, "write", list)
    clock = max(clock, tick)
    current = store.get(key)
    if current is None or current[1] < (tick, origin):
        store[key] = (value, (tick, origin))


if __name__ == "__main__":
    raise SystemExit(node.run())
