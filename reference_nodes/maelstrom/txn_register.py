"""``python3 -m reference_nodes.maelstrom.txn_register``: a totally available, read-committed
key-value store for Maelstrom's txn-rw-register workload (Gossip Glomers challenges 6a-6c).

Every node holds every key and answers every ``txn`` on its own, at once, whatever the
network does (total availability): it runs the transaction's reads and writes against its
copy in one step, so no other transaction sees it half done, and a read after the
transaction's own write returns that write. Then it replicates the transaction's final
write to each key to every peer, in the background.

Versions are ordered last-writer-wins by a Lamport stamp ``(clock, node)``: a node's clock
moves past every stamp it applies, and each transaction is stamped with the next tick, so
a transaction is stamped after every version it could have read. A replicated write is
applied only over an older version, so every node ends with the same version of each key,
and each key's versions are installed in stamp order everywhere: writes and the reads of
them never form a cycle (no G0, no G1c). Only final writes leave a node, and only from
transactions that finished (nothing aborts), so nobody reads an intermediate or aborted
write (no G1a, G1b). That is read committed. It is not serializable: two transactions at two
nodes may each miss the other's write (G-single, G2), which read committed allows.

Replication survives partitions: each peer has an outbox of the writes it has not
acknowledged, sent whole (up to ``batch`` entries) every ``replicate_interval_ms``
(default 50 ms) until a ``replicate_ack`` names the last entry sent. Applying is idempotent,
so resends and duplicates do no harm. State is in memory: a crashed node loses it.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError, require

#: (Lamport clock, node id): the order of versions, the same at every node.
Stamp = tuple[int, str]


class TxnRegisterNode(Node):
    def __init__(self) -> None:
        super().__init__()
        #: key -> (value, the stamp of the transaction that wrote it).
        self.store: dict[int, tuple[Any, Stamp]] = {}
        self.clock = 0
        #: peer -> [(seq, [key, value, clock, node]), ...] not yet acknowledged.
        self.outbox: dict[str, list[tuple[int, list[Any]]]] = {}
        self.sent = 0
        self.batch = 500
        self.on("txn", self.txn)
        self.on("replicate", self.receive)
        self.on("replicate_ack", self.acknowledged)
        self.on_init(self.start)

    def start(self) -> None:
        self.outbox = {peer: [] for peer in self.node_ids if peer != self.node_id}
        self.batch = self.params.integer("batch", 500, minimum=1)
        self.every(self.params.duration("replicate_interval_ms", 50, minimum_ms=1),
                   self.replicate)

    # -- clients ---------------------------------------------------------------------------

    def txn(self, msg: Message) -> dict[str, Any]:
        ops = require(msg.body, "txn", list)
        if not all(_is_op(op) for op in ops):
            raise RPCError.malformed("txn: each operation is [\"r\" or \"w\", key, value]")
        self.clock += 1
        stamp: Stamp = (self.clock, str(self.node_id))
        done: list[list[Any]] = []
        written: dict[int, Any] = {}
        for kind, key, value in ops:
            if kind == "w":
                written[key] = value
                done.append(["w", key, value])
            elif key in written:
                done.append(["r", key, written[key]])
            else:
                current = self.store.get(key)
                done.append(["r", key, current[0] if current is not None else None])
        for key, value in written.items():
            self.store[key] = (value, stamp)
        if written:
            writes = [[key, value, *stamp] for key, value in written.items()]
            for queue in self.outbox.values():
                queue.extend((self._next_seq(), w) for w in writes)
        return {"type": "txn_ok", "txn": done}

    # -- replication -----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.sent += 1
        return self.sent

    def replicate(self) -> None:
        for peer, queue in self.outbox.items():
            if queue:
                entries = queue[:self.batch]
                self.send(peer, {"type": "replicate", "upto": entries[-1][0],
                                 "writes": [w for _, w in entries]})

    def receive(self, msg: Message) -> None:
        for entry in require(msg.body, "writes", list):
            key, value, clock, node = entry
            self.clock = max(self.clock, int(clock))
            stamp: Stamp = (int(clock), str(node))
            current = self.store.get(key)
            if current is None or current[1] < stamp:
                self.store[key] = (value, stamp)
        self.send(msg.src, {"type": "replicate_ack", "upto": require(msg.body, "upto", int)})

    def acknowledged(self, msg: Message) -> None:
        upto = require(msg.body, "upto", int)
        queue = self.outbox.get(msg.src)
        if queue:
            self.outbox[msg.src] = [(seq, w) for seq, w in queue if seq > upto]


def _is_op(op: Any) -> bool:
    return (isinstance(op, list) and len(op) == 3 and op[0] in ("r", "w")
            and isinstance(op[1], int) and not isinstance(op[1], bool))


if __name__ == "__main__":
    raise SystemExit(TxnRegisterNode().run())
