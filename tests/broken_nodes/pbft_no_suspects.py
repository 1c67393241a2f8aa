#!/usr/bin/env python3
"""Broken PBFT replica: protects itself, but tells nobody.

Bug: bad messages are dropped and a lying primary is still replaced, but the replica never
lists the culprit in `suspects` (it keeps no evidence), so operators never learn which
replica is malicious.

Must be caught by: the suspects checker (an honest replica never suspected the Byzantine
one).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.pbft.node import PROOF_AGAINST_PRIMARY, Replica


class NoSuspectsReplica(Replica):
    def suspect(self, node: str, kind: str, detail: str, proof: Any = None) -> None:
        if node == self.primary() and self.active and kind in PROOF_AGAINST_PRIMARY:
            self.start_view_change(self.view + 1)


if __name__ == "__main__":
    raise SystemExit(NoSuspectsReplica().run())
