#!/usr/bin/env python3
"""Broken vector-clock node: a Lamport clock dressed up as a vector.

Bug: on every event every entry of the clock is raised to the largest one, as if the
vector were one scalar Lamport time copied n times. Lamport time orders events that
happened before one another, but it also orders concurrent ones: the vector no longer tells
concurrency apart.

Must be caught by: the vector_clocks checker (pairs ordered that are concurrent).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.vector_clock.eventlog import Event, EventLog
from reference_nodes.vector_clock.node import VectorClockNode


class ScalarLog(EventLog):
    def new(self, kind: str, received: dict[str, int] | None = None, **fields: Any) -> Event:
        event = super().new(kind, received, **fields)
        top = max(event["vc"].values())
        self.clock = {n: top for n in event["vc"]}
        event["vc"] = dict(self.clock)
        return event


class ScalarNode(VectorClockNode):
    def setup(self) -> None:
        super().setup()
        scalar = ScalarLog(self.me, None)
        scalar.events, scalar.clock = self.log.events, self.log.clock
        self.log = scalar


if __name__ == "__main__":
    raise SystemExit(ScalarNode().run())
