#!/usr/bin/env python3
"""Broken vector-clock node: delivers in causal order, but reads hand out arrival order.

Bug: the hold-back and the event log are those of the reference node — every delivery it
logs respects causality — but :meth:`on_read` lists the delivered broadcasts in the order
they *arrived*, not the order they were delivered. With a slow link (n1 -> n3 at 150 ms,
the rest at 2 ms) n3 receives n2's answer to n1's broadcast first, holds it back and
delivers it second, yet its clients read the answer before the broadcast it answers.
Judged from the node's own log, nothing is wrong.

Must be caught by: the causal_delivery checker (what clients read, against the history's
causal order and against the node's log).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message
from reference_nodes.vector_clock.eventlog import Event
from reference_nodes.vector_clock.node import VectorClockNode


class ArrivalOrderReads(VectorClockNode):
    def setup(self) -> None:
        # Before the reference set-up: it replays a previous life's log through apply.
        self.arrival: dict[tuple[str, int], int] = {}
        self.delivered_keys: list[tuple[str, int]] = []
        super().setup()

    def apply(self, event: Event) -> None:
        super().apply(event)
        body: dict[str, Any] = event.get("body") or {}
        if event["kind"] in ("send", "receive") and body.get("what") == "cbcast":
            self.arrival.setdefault((body["origin"], body["seq_b"]), len(self.arrival))
        elif event["kind"] == "deliver":
            self.delivered_keys.append((event["origin"], event["seq_b"]))

    def on_read(self, msg: Message) -> None:
        ranked = sorted(zip(self.delivered_keys, self.delivered, strict=True),
                        key=lambda pair: self.arrival.get(pair[0], len(self.arrival)))
        self.runtime.reply(msg, {"type": "read_ok",
                                 "delivered": [entry for _, entry in ranked]})


if __name__ == "__main__":
    raise SystemExit(ArrivalOrderReads().run())
