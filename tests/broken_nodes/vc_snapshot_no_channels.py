#!/usr/bin/env python3
"""Broken vector-clock node: snapshots record local state but never channel state.

Bug: a transfer that arrives on a channel still being recorded is not added to the
snapshot, so units that were in transit across the cut vanish from it. Each node's local
state is right; the snapshot as a whole loses what was on the wire.

Must be caught by: the snapshots checker (channel state misses messages in transit; the
total is not conserved).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.vector_clock.node import VectorClockNode


class ForgetsChannelsNode(VectorClockNode):
    def record_in_transit(self, src: str, body: dict[str, Any]) -> None:
        return


if __name__ == "__main__":
    raise SystemExit(ForgetsChannelsNode().run())
