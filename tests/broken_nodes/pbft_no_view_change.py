#!/usr/bin/env python3
"""Broken PBFT replica: no view-change timer.

Bug: backups never time out on the primary, so a primary that crashes, stalls or is cut
off is never replaced: the cluster waits for it forever (view changes still happen if the
primary's lies are proven, but a silent primary proves nothing).

Must be caught by: the view_change checker (the honest replicas never leave the crashed
primary's view) and the liveness checker (no request accepted after the fault).
"""

from __future__ import annotations

from reference_nodes.pbft.node import Replica


class NoViewChangeReplica(Replica):
    def tick(self) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(NoViewChangeReplica().run())
