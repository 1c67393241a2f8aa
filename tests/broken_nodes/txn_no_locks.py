#!/usr/bin/env python3
"""Broken transaction node: participants take no locks.

Bug: ``lock`` grants every request at once, so two transactions can read the same version
of a key and both write it, and the second write silently overwrites the first: a lost
update, and cycles of dependencies that no serial order explains. Commitment itself (2PC,
the log) is untouched.

Must be caught by: the isolation checker (lost update, G2).
"""

from __future__ import annotations

from reference_nodes.txn.node import Part, TxnNode


class LocklessNode(TxnNode):
    async def lock(self, part: Part, key: int, mode: str) -> None:
        return


if __name__ == "__main__":
    raise SystemExit(LocklessNode().run())
