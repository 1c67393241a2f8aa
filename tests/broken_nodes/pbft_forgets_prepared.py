#!/usr/bin/env python3
"""Broken PBFT replica: a new view forgets prepared requests.

Bug: the new primary starts its view with null requests for every sequence number above
the stable checkpoint, ignoring the prepared certificates the view changes carry. A
request some replicas already committed in the old view is replaced, for the replicas that
had not, by a null request (the backups check the new view against the same rule, so they
accept it).

Must be caught by: the agreement checker (at one sequence number, some honest replicas
committed the request and others a null one).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.pbft.node import Replica


class ForgetfulReplica(Replica):
    @staticmethod
    def reproposals(vcs: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
        low = max(vc["stable"] for vc in vcs)
        high = max((cert["pp"]["seq"] for vc in vcs for cert in vc["prepared"]), default=low)
        return [(seq, []) for seq in range(low + 1, high + 1)]


if __name__ == "__main__":
    raise SystemExit(ForgetfulReplica().run())
