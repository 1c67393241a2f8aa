#!/usr/bin/env python3
"""Broken 2PC participant: it does not block, it guesses.

Bug: a participant that voted yes and cannot reach its coordinator aborts on its own after
a short wait, freeing its locks — what an impatient implementation does to avoid 2PC's
blocking. If the coordinator had decided "commit", the transaction is now committed on
some shards and aborted on this one.

Must be caught by: the blocking checker (decided while the coordinator was down).
"""

from __future__ import annotations

from reference_nodes.txn.node import ABORT, Part, TxnNode


class ImpatientNode(TxnNode):
    async def ask_decision(self, part: Part) -> None:
        await super().ask_decision(part)
        if self.parts.get(part.txn) is part and part.coord != self.me:
            await self.finish(part, ABORT)  # the bug: guessing instead of blocking


if __name__ == "__main__":
    raise SystemExit(ImpatientNode().run())
