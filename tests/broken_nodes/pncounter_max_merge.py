#!/usr/bin/env python3
"""Broken pn-counter node: a g-counter CRDT with negative deltas let in.

Bug: each node keeps one signed total per node and merges by maximum, as a g-counter does.
Fine while totals only grow; a decrement makes this node's own entry smaller than the
copy its peers hold, and the next merge takes their larger, older value back: the
decrement is lost on every node.

Must be caught by: final_count on the pn-counter workload (the g-counter workload never
decrements, so it passes that).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message
from reference_nodes.maelstrom.counter import CounterNode


class MaxMergeNode(CounterNode):
    def add(self, msg: Message) -> dict[str, Any]:
        me = str(self.node_id)
        self.p[me] = self.p.get(me, 0) + int(msg.body["delta"])
        return {"type": "add_ok"}


if __name__ == "__main__":
    raise SystemExit(MaxMergeNode().run())
