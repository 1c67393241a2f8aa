#!/usr/bin/env python3
"""Broken gossip node: takes stale "alive" news about a member it holds dead.

Bug: merging ignores incarnation numbers when the news is "alive" about a member the node
holds dead — "someone says it is alive, so it must be back". But only the member itself
can raise its incarnation; an "alive" at the incarnation the node declared dead is old
news from a peer that has not heard of the death yet (anti-entropy sends whole tables). A
crashed member is marked dead in time, then flaps back to alive, is suspected and declared
dead again, and is revived again by the next stale table — possibly to the end of the run.

Must be caught by: the failure-detection checker's flap rule (a member shown alive again
while it is still down) — not by a first-detection-only check, which this node passes.
"""

from __future__ import annotations

from reference_nodes.gossip.membership import ALIVE, DEAD, Membership, Record
from reference_nodes.gossip.node import GossipNode


class FlappingMembership(Membership):
    def supersedes(self, new: Record, current: Record) -> bool:
        """The bug: "alive" beats "dead" whatever the incarnations say."""
        if current.status == DEAD and new.status == ALIVE:
            return True
        return super().supersedes(new, current)


class FlappingNode(GossipNode):
    membership_class = FlappingMembership


if __name__ == "__main__":
    raise SystemExit(FlappingNode().run())
