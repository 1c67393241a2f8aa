#!/usr/bin/env python3
"""Broken vector-clock node: a receive ticks the clock but forgets to merge the sender's.

Bug: the clock a message carries is ignored, so a node's clock only ever counts its own
events: an event after a receive does not show that the send happened before it. Causal
delivery still works (it uses the separate delivery vector), so only the clocks are wrong.

Must be caught by: the vector_clocks checker (missed happens-before pairs).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.vector_clock.node import VectorClockNode


class ForgetfulNode(VectorClockNode):
    def on_channel_message(self, src: str, body: dict[str, Any]) -> None:
        super().on_channel_message(src, {**body, "vc": {}})


if __name__ == "__main__":
    raise SystemExit(ForgetfulNode().run())
