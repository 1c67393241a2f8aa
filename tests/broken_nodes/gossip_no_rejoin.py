#!/usr/bin/env python3
"""Broken gossip node: once dead, always dead.

Bug: the member table ignores every record about a member it holds dead, so a restarted
node, or one on the far side of a healed partition, is never marked alive again — even
though it refutes with a higher incarnation. Detection and dissemination work as in the
reference node.

Must be caught by: the rejoin check of the failure-detection checker (a healed or
restarted node is not alive again everywhere).
"""

from __future__ import annotations

from reference_nodes.gossip.membership import DEAD, Membership, Record
from reference_nodes.gossip.node import GossipNode


class NoRejoinMembership(Membership):
    def supersedes(self, new: Record, current: Record) -> bool:
        """The bug: nothing outranks a death, not even a refutation."""
        return current.status != DEAD and super().supersedes(new, current)


class NoRejoinNode(GossipNode):
    membership_class = NoRejoinMembership


if __name__ == "__main__":
    raise SystemExit(NoRejoinNode().run())
