#!/usr/bin/env python3
"""Broken PBFT replica: crash-fault quorums.

Bug: a request counts as prepared with f matching prepares (its own included) and as
committed with f+1 commits — majorities of the honest, as a crash-tolerant protocol would
use — instead of 2f and 2f+1. Without a Byzantine replica it works. With an equivocating
primary and one honest replica cut off from the others, the two groups of honest replicas
each commit the version they were told at the same sequence number.

Must be caught by: the agreement checker (honest replicas commit different requests at one
sequence number).
"""

from __future__ import annotations

from reference_nodes.pbft.node import Replica


class SmallQuorumReplica(Replica):
    @property
    def prepare_quorum(self) -> int:
        return self.f

    @property
    def commit_quorum(self) -> int:
        return self.f + 1


if __name__ == "__main__":
    raise SystemExit(SmallQuorumReplica().run())
