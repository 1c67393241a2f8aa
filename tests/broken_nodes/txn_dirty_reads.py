#!/usr/bin/env python3
"""Broken transaction node: a read sees other transactions' uncommitted writes.

Bug: a read takes no lock and returns the newest write any active transaction has made to
the key here, committed or not. When that writer then aborts (a deadlock victim, a lock
timeout), the reader has seen a value that never existed.

Must be caught by: the isolation checker (G1a, aborted read) — and atomicity, which forbids
reading an aborted write.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message
from reference_nodes.txn.locks import EXCLUSIVE
from reference_nodes.txn.node import JSON, Part, TxnNode


class DirtyNode(TxnNode):
    async def on_exec(self, msg: Message) -> JSON:
        txn = msg.body["txn"]
        part = self.parts.setdefault(txn, Part(txn, msg.body["coord"],
                                               participants=msg.body["parts"]))
        reads = []
        for index, f, key, value in msg.body["ops"]:
            if f == "r":
                reads.append([index, self.dirty_value(part, key)])
            else:
                await self.lock(part, key, EXCLUSIVE)
                part.writes[key] = value
        self.decisions.setdefault(txn, "pending")
        return {"type": "txn_exec_ok", "reads": reads}

    def dirty_value(self, reader: Part, key: int) -> Any:
        if key in reader.writes:
            return reader.writes[key]
        for other in self.parts.values():
            if other is not reader and key in other.writes:
                return other.writes[key]
        return self.store.get(key)


if __name__ == "__main__":
    raise SystemExit(DirtyNode().run())
