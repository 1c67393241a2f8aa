#!/usr/bin/env python3
"""Broken lin-kv node: writes go through one node, reads are answered from a local copy.

Bug: the first node applies every write and cas (the others relay them to it) and then
tells every other node the new value, fire and forget; each node answers reads from its own
copy. A read at a node the news has not reached yet returns a value already overwritten:
a stale read, which linearizability forbids (Maelstrom's lin-kv checker finds it too).
Fast and available for reads, the careless first cut of a replicated store.

Must be caught by: linearizable, in lin-kv.yaml (any latency between nodes shows it).
"""

from __future__ import annotations

import json
from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError, require

node = Node()
copy: dict[str, Any] = {}


def holder() -> str:
    return min(node.node_ids, key=lambda n: (len(n), n))


def key_of(body: dict[str, Any]) -> str:
    return json.dumps(require(body, "key", object), sort_keys=True)


@node.handler("read")
def read(msg: Message) -> dict[str, Any]:
    key = key_of(msg.body)
    if key not in copy:
        raise RPCError(20, "key does not exist")
    return {"type": "read_ok", "value": copy[key]}


def change(msg: Message) -> dict[str, Any] | None:
    if node.node_id != holder():
        node.relay(holder(), msg)
        return None
    key = key_of(msg.body)
    if msg.type == "cas":
        if key not in copy:
            raise RPCError(20, "key does not exist")
        if copy[key] != msg.body.get("from"):
            raise RPCError(22, "precondition failed")
        copy[key] = msg.body.get("to")
    else:
        copy[key] = msg.body.get("value")
    node.send_all([n for n in node.node_ids if n != node.node_id],
                  {"type": "replicate", "key": key, "value": copy[key]})
    return {"type": f"{msg.type}_ok"}


node.on("write", change)
node.on("cas", change)


@node.handler("replicate")
def replicate(msg: Message) -> None:
    copy[msg.body["key"]] = msg.body["value"]


if __name__ == "__main__":
    raise SystemExit(node.run())
