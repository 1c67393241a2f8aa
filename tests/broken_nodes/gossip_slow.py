#!/usr/bin/env python3
"""Broken gossip node: batches leave only every 2 seconds.

Bug: dissemination flushes on a fixed clock of :data:`SLOW_INTERVAL` (2 s), whatever the
parameters say — instead of sending at once when a value reaches a quiet node, and at
most one interval after the previous batch otherwise. A value waits a second on average
before it leaves its node. ``broadcast_ok`` is answered at once, so clients are not slowed
down and nothing but latency suffers: values converge, few messages are sent.

Must be caught by: the stable-latency checker (median and maximum over their bounds).
"""

from __future__ import annotations

from collections.abc import Callable

from reference_nodes.gossip.dissemination import Disseminator
from reference_nodes.gossip.node import GossipNode

SLOW_INTERVAL = 2.0


class SlowDisseminator(Disseminator):
    def start(self) -> None:
        """The bug: a fixed 2 s batch clock ..."""
        super().start()
        self.runtime.every(SLOW_INTERVAL, self.flush, jitter=0.0)

    def schedule_flush(self, urgent: bool = False) -> None:
        """... and nothing ever flushes sooner."""

    def defer_ack(self, ack: Callable[[], None]) -> None:
        # Not part of the bug: with acks held for the slow batch, clients would slow
        # down too, and with fewer operations msgs-per-op would fail as well.
        ack()


class SlowNode(GossipNode):
    dissemination_class = SlowDisseminator


if __name__ == "__main__":
    raise SystemExit(SlowNode().run())
