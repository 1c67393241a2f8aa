#!/usr/bin/env python3
"""Broken gossip node: its failure detector never declares anyone dead.

Bug: when a suspicion times out, the node does nothing, so a crashed or isolated member
stays "suspect" forever instead of becoming "dead". Probing, suspicion and dissemination
work as in the reference node.

Must be caught by: the failure-detection checker (a crashed node is not marked dead by
every live node within T).
"""

from __future__ import annotations

import logging

from reference_nodes.gossip.node import GossipNode

log = logging.getLogger("broken.never_dead")


class NeverDeadNode(GossipNode):
    def on_suspicion_expired(self, member: str, incarnation: int) -> None:
        """The bug: an unrefuted suspicion is simply kept."""
        log.info("%s stayed suspect at %d; keeping it suspect (never dead)", member, incarnation)


if __name__ == "__main__":
    raise SystemExit(NeverDeadNode().run())
