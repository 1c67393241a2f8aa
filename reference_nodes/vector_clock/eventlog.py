"""The node's event log: every event it counts on its clock, in order, kept on disk.

Each event is a JSON object: ``i`` (the node's own clock entry at the event, 1, 2, ...),
``vc`` (its event clock), ``t`` (wall-clock time, for figures only), ``kind`` (``start``,
``send``, ``receive``, ``deliver`` or ``snapshot``) and what the kind needs — a send names
its destinations and the ``msg_id`` of the message to each (``to: {node: msg_id}``); a
receive names ``from`` and the ``msg_id`` it took. The harness ties these ids to the
messages its agents saw travel.

The log is appended to ``events.jsonl`` in the node's folder as each event happens (a line
is written before any message of that event leaves), and read back when the node starts
again after a crash: replaying it restores the node (see :meth:`VectorClockNode.apply`).
A torn last line — the process died while writing it — is ignored, and cut off before the
new life appends (glued to the next event, it would hide every later one from the replay
after another crash); that event never had an effect outside the node.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import IO, Any

from .clock import Clock, merge

log = logging.getLogger("reference_nodes.vector_clock")

Event = dict[str, Any]
#: Fields kept on disk for replay but left out of what the node reports.
PRIVATE = ("body", "wire")


class EventLog:
    def __init__(self, node_id: str, path: str | None) -> None:
        self.node_id = node_id
        self.path = path
        self.events: list[Event] = []
        self.clock: Clock = {}
        self._file: IO[str] | None = None
        #: Bytes of the log that hold whole events, once loaded (the rest is a torn line,
        #: cut off by open).
        self._whole: int | None = None

    def load(self) -> list[Event]:
        """The events a previous life of this node logged (none on a first start)."""
        if self.path is None or not os.path.exists(self.path):
            return []
        events = []
        self._whole = 0
        with open(self.path, "rb") as source:
            for number, line in enumerate(source, start=1):
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("no end of line")
                    event = json.loads(line)
                except ValueError:
                    log.warning("ignoring a torn line %d of %s, and cutting the log there",
                                number, self.path)
                    break
                events.append(event)
                self._whole += len(line)
        for event in events:
            self.events.append(event)
            self.clock = dict(event["vc"])
        return events

    def open(self) -> None:
        if self.path is not None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            if self._whole is not None:
                self._file.truncate(self._whole)

    def new(self, kind: str, received: Clock | None = None, **fields: Any) -> Event:
        """The next event: tick the clock (merging ``received`` first, for a receive)."""
        clock = merge(self.clock, received) if received else dict(self.clock)
        clock[self.node_id] = clock.get(self.node_id, 0) + 1
        self.clock = clock
        return {"i": clock[self.node_id], "vc": clock, "kind": kind,
                "t": round(time.time(), 6), **fields}

    def commit(self, event: Event) -> None:
        """Keep ``event``: in memory, and on disk before anything it sends leaves."""
        self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
            self._file.flush()

    def public(self) -> list[Event]:
        return [{k: v for k, v in e.items() if k not in PRIVATE} for e in self.events]
