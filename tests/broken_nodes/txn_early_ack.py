#!/usr/bin/env python3
"""Broken coordinator: it says "committed" before the commit protocol has run.

Bug: the client gets ``txn_ok`` as soon as the reads are back; two-phase commit then runs
in the background, and when a participant cannot vote (it crashed, it timed out) the
transaction is aborted — after the client was told it committed.

Must be caught by: the txn_outcomes checker (told ok, but not committed).
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import Message, RPCError
from reference_nodes.txn.node import JSON, TxnNode, parse_txn


class EagerNode(TxnNode):
    async def on_txn(self, msg: Message) -> JSON:
        ops = parse_txn(msg.body.get("txn"))
        coord = self.begin(ops)
        results = await self.execute(coord, ops)

        async def commit_later() -> None:
            try:
                await self.commit(coord)
            except RPCError:
                await self.decide(coord, "abort")

        self.runtime.spawn(commit_later())  # the bug: the answer does not wait for this
        return {"type": "txn_ok", "txn": results}


if __name__ == "__main__":
    raise SystemExit(EagerNode().run())
