#!/usr/bin/env python3
"""Broken gossip node: client broadcasts stay where they land.

Bug: the node never starts dissemination — no gossip batches and no anti-entropy — so a
value is only ever readable on the node a client sent it to (``broadcast_ok`` is still
sent, at once). Membership and failure detection work as in the reference node.

Must be caught by: the convergence checker (acknowledged values never reach every live
node).
"""

from __future__ import annotations

from reference_nodes.gossip.node import GossipNode


class NoForwardNode(GossipNode):
    def start_dissemination(self) -> None:
        """The bug: neither the gossip timer nor the anti-entropy timer is started."""


if __name__ == "__main__":
    raise SystemExit(NoForwardNode().run())
