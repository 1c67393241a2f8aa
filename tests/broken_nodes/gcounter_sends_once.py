#!/usr/bin/env python3
"""Broken g-counter node: it tells its peers of each add once, and never again.

Bug: operation-based replication with fire-and-forget messages. Each add is counted here
and sent to every peer as ``counter_add {delta}``; a peer adds it to its total. Without
faults every node reads the sum; an add sent across a partition is lost for good, so that
peer's total stays short after the heal.

Must be caught by: final_count, under partitions (g-counter-4), naming each node's read.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, require

node = Node()
total = 0


@node.handler("add")
def add(msg: Message) -> dict[str, Any]:
    global total
    delta = require(msg.body, "delta", int)
    total += delta
    node.send_all([n for n in node.node_ids if n != node.node_id],
                  {"type": "counter_add", "delta": delta})
    return {"type": "add_ok"}


@node.handler("counter_add")
def counter_add(msg: Message) -> None:
    global total
    total += require(msg.body, "delta", int)


@node.handler("read")
def read(msg: Message) -> dict[str, Any]:
    return {"type": "read_ok", "value": total}


if __name__ == "__main__":
    raise SystemExit(node.run())
