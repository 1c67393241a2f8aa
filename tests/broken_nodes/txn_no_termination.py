#!/usr/bin/env python3
"""Broken 3PC participant: no termination protocol.

Bug: a participant whose coordinator has gone quiet just keeps asking the coordinator, as
in 2PC, instead of deciding with the other participants. Safe, but it blocks exactly as
2PC does — which is what 3PC exists to avoid.

Must be caught by: the termination checker (in-doubt transactions decided only after the
coordinator returns, or never).
"""

from __future__ import annotations

from reference_nodes.txn.node import Part, TxnNode


class BlockingNode(TxnNode):
    async def terminate(self, part: Part) -> None:
        await self.ask_decision(part)


if __name__ == "__main__":
    raise SystemExit(BlockingNode().run())
