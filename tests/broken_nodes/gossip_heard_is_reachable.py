#!/usr/bin/env python3
"""Broken gossip node: a member that speaks to it counts as reachable.

Bug: an unanswered probe is excused whenever the target sent this node anything while the
probe waited — its own pings, its gossip — not only when it answered one of this node's
requests. "I just heard from it, so it is fine." It is up, but that says nothing about
whether it hears this node: under a one-way cut (its messages get here, ours never get
there) the node never suspects it, so never marks it dead. Every shipped gossip scenario
cuts links both ways or crashes the node, and then a member that cannot be reached is
also silent, so this node passes them all.

Must be caught by: the failure-detection checker (a member cut off one way is not marked
dead within T), under a one-way partition — a fault `dchaos explore` draws and no shipped
gossip scenario has.
"""

from __future__ import annotations

from reference_nodes.gossip.failure_detector import FailureDetector
from reference_nodes.gossip.node import GossipNode


class HeardIsReachableDetector(FailureDetector):
    def answered_since(self, member: str, since: float) -> bool:
        """The bug: any message from ``member`` counts, an answer or not."""
        return self.last_heard.get(member, -1.0) >= since


class HeardIsReachableNode(GossipNode):
    failure_detector_class = HeardIsReachableDetector


if __name__ == "__main__":
    raise SystemExit(HeardIsReachableNode().run())
