#!/usr/bin/env python3
"""Broken vector-clock node: no hold-back — a broadcast is delivered the moment it arrives.

Bug: :meth:`try_deliver` ignores the broadcast's dependencies and delivers whatever has
arrived, in arrival order. With equal latency on every link that often looks right; with a
slow link (n1 -> n3 at 200 ms, the rest at 2 ms) n3 sees n2's answer to n1's broadcast
before n1's broadcast itself, and delivers it first.

Must be caught by: the causal_delivery checker.
"""

from __future__ import annotations

from reference_nodes.vector_clock.node import VectorClockNode


class ImpatientNode(VectorClockNode):
    def try_deliver(self) -> None:
        for key in sorted(self.held, key=lambda k: self.held[k]["vc"].get(k[0], 0)):
            origin, seq = key
            if self.delivered_count.get(origin, 0) < seq:
                self.deliver(self.held[key])
            self.held.pop(key, None)


if __name__ == "__main__":
    raise SystemExit(ImpatientNode().run())
