#!/usr/bin/env python3
"""Broken deadlock handling: every long wait is treated as a deadlock.

Bug: instead of finding cycles, the node aborts any transaction that has waited for a lock
longer than 50 ms, calling it a deadlock victim. Real deadlocks are broken too, but so are
transactions that were merely queued behind a slow one.

Must be caught by: the deadlock_handling checker (victims outside any cycle).
"""

from __future__ import annotations

import time

from reference_nodes.txn.node import TxnNode


class TriggerHappyNode(TxnNode):
    def setup(self) -> None:
        super().setup()
        self.runtime.every(0.05, self.shoot)

    def shoot(self) -> None:
        now = time.time()
        for part in list(self.parts.values()):
            if part.waiting is not None and now - part.wait_since > 0.05:
                coordinator = part.txn.split(".", 1)[0]
                self.runtime.send(coordinator, {"type": "abort_txn", "txn": part.txn,
                                                "cycle": [part.txn]})
                part.wait_since = now  # once per 50 ms is enough


if __name__ == "__main__":
    raise SystemExit(TriggerHappyNode().run())
