#!/usr/bin/env python3
"""Broken gossip node: one missed ack, with a tiny timeout, and the member is dead.

Bug: a probe is a single ping with a fixed :data:`TINY_TIMEOUT` (30 ms) — no adaptation to
the round trip, no indirect probes through other members, no suspicion period. On links
with 100 ms latency every probe misses, so live members are declared dead over and over
(each then refutes, and is shot again). On a fast local network it may look healthy.

Must be caught by: the failure-detection checker's false-positive count (live, reachable
nodes marked dead).
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import RPCError
from reference_nodes.gossip.failure_detector import FailureDetector
from reference_nodes.gossip.membership import DEAD
from reference_nodes.gossip.node import GossipNode

TINY_TIMEOUT = 0.03


class TriggerHappyDetector(FailureDetector):
    async def probe(self, target: str) -> None:
        """The bug: no ack within 30 ms means dead, at once."""
        if self.host.membership.status(target) == DEAD:
            return
        try:
            await self._request(target, {"type": "ping"}, TINY_TIMEOUT)
        except RPCError:
            self.host.declare_dead(target)


class TriggerHappyNode(GossipNode):
    failure_detector_class = TriggerHappyDetector


if __name__ == "__main__":
    raise SystemExit(TriggerHappyNode().run())
