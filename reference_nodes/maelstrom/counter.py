"""``python3 -m reference_nodes.maelstrom.counter``: a state-based PN-counter CRDT, for
Maelstrom's g-counter and pn-counter workloads.

Each node keeps, for every node, the sum of the positive deltas it took (``p``) and of the
negative ones (``n``); an add changes only this node's own entries, a read answers
``sum(p) - sum(n)``. Every ``gossip_interval_ms`` (default 100 ms) a node sends its whole
state to every peer, and merging takes each entry's maximum. Entries only grow, so merges
in any order, repeated or lost, converge: a partition delays the sum, never loses an add —
the next gossip after the heal carries it. (A single signed total per node would not: the
maximum would undo a decrement.)

Acknowledged adds survive a partition, not a crash: state is in memory. A restarted node
gets its own old entries back from its peers' gossip.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError, require

Counts = dict[str, int]


class CounterNode(Node):
    def __init__(self) -> None:
        super().__init__()
        self.p: Counts = {}
        self.n: Counts = {}
        self.on("add", self.add)
        self.on("read", self.read)
        self.on("counter_state", self.receive)
        self.on_init(self.start)

    def start(self) -> None:
        interval = self.params.duration("gossip_interval_ms", 100, minimum_ms=1)
        self.every(interval, self.gossip)

    def add(self, msg: Message) -> dict[str, Any]:
        delta = require(msg.body, "delta", int)
        if isinstance(delta, bool):
            raise RPCError.malformed("add: delta must be an integer")
        me = str(self.node_id)
        side = self.p if delta >= 0 else self.n
        side[me] = side.get(me, 0) + abs(delta)
        return {"type": "add_ok"}

    def read(self, msg: Message) -> dict[str, Any]:
        return {"type": "read_ok", "value": self.value()}

    def value(self) -> int:
        return sum(self.p.values()) - sum(self.n.values())

    def gossip(self) -> None:
        peers = [n for n in self.node_ids if n != self.node_id]
        self.send_all(peers, {"type": "counter_state", "p": self.p, "n": self.n})

    def receive(self, msg: Message) -> None:
        self.merge(self.p, require(msg.body, "p", dict))
        self.merge(self.n, require(msg.body, "n", dict))

    @staticmethod
    def merge(mine: Counts, theirs: Counts) -> None:
        for node, count in theirs.items():
            if isinstance(count, int) and count > mine.get(node, 0):
                mine[node] = count


if __name__ == "__main__":
    raise SystemExit(CounterNode().run())
