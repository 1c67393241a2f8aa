#!/usr/bin/env python3
"""Broken transaction node: a participant applies a commit without logging it.

Bug: on "commit" the writes go into the in-memory store, but the commit record is never
written to the write-ahead log. While the node runs nothing shows; after a crash it
rebuilds its store from the log — and every write it committed is gone, including those
of transactions the clients were told had committed.

Must be caught by: the atomicity checker (acknowledged writes lost across a restart).
"""

from __future__ import annotations

from reference_nodes.txn.node import COMMIT, Part, TxnNode


class ForgetfulNode(TxnNode):
    async def finish(self, part: Part, decision: str) -> None:
        if decision != COMMIT or self.parts.get(part.txn) is not part:
            await super().finish(part, decision)
            return
        del self.parts[part.txn]
        self.apply(sorted(part.writes.items()))  # the bug: no p_decide record, no force
        self.decisions[part.txn] = decision
        self.locks.release_all(part.txn)


if __name__ == "__main__":
    raise SystemExit(ForgetfulNode().run())
