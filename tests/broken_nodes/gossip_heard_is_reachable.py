#!/usr/bin/env python3
"""Broken gossip node: a member it hears from is taken to be fine.

Bug: "I just heard from it, so it is fine" — in two places. An unanswered probe is excused
whenever the target sent this node anything while the probe waited (its own pings, its
gossip), not only when it answered one of this node's requests; and any message from a
member this node holds suspect or dead brings it back to alive, as if the message were a
refutation. A message shows that its sender is up, not that it hears this node: under a
one-way cut (its messages get here, ours never get there) the member has failed as seen
from here, yet this node never marks it dead, or takes it back the next time it speaks.
Every shipped gossip scenario cuts links both ways or crashes the node — a member that
cannot be reached is then also silent — so this node passes them all.

Must be caught by: the failure-detection checker (a member cut off one way is not marked
dead within T, or flaps back), under a one-way partition — a fault `dchaos explore` draws
and no shipped gossip scenario has.
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import Message
from reference_nodes.gossip.failure_detector import FailureDetector
from reference_nodes.gossip.membership import ALIVE, Change, Record
from reference_nodes.gossip.node import GossipNode


class HeardIsReachableDetector(FailureDetector):
    def answered_since(self, member: str, since: float) -> bool:
        """The bug, once: any message from ``member`` counts, an answer or not."""
        return self.last_heard.get(member, -1.0) >= since


class HeardIsReachableNode(GossipNode):
    failure_detector_class = HeardIsReachableDetector

    def absorb(self, msg: Message, via: str) -> None:
        """The bug, twice: a message from a member held suspect or dead revives it."""
        super().absorb(msg, via)
        member = msg.src
        if member not in self.membership or member == self.node_id:
            return
        before = self.membership.get(member)
        if before.status != ALIVE:
            after = Record(member, ALIVE, before.incarnation)
            self.membership.records[member] = after
            self.on_membership_change(Change(before, after), member, via)


if __name__ == "__main__":
    raise SystemExit(HeardIsReachableNode().run())
