#!/usr/bin/env python3
"""Broken PBFT replica: unordered reads.

Bug: a read is answered at once from the replica's own state, without going through the
protocol — the read-only optimisation of the paper without its conditions (the client must
then wait for 2f+1 matching replies, and the replica must have executed every request the
client saw). With a client that accepts f+1 replies, a read can miss a write that was
already acknowledged.

Must be caught by: the linearizable checker from the client history alone (a read of a
value overwritten before the read began, once some replicas lag behind), and by its
cross-check of the committed logs (a read that is in no committed log).
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import JSON, Message
from reference_nodes.pbft.node import Replica


class FastReadReplica(Replica):
    def on_request(self, msg: Message) -> JSON | None:
        op = msg.body.get("op")
        if isinstance(op, dict) and op.get("f") == "read" and "key" in op:
            result = self.sm.apply(op)
            self.reply_to_client(msg, int(msg.body.get("timestamp", 0)), result)
            return None
        return super().on_request(msg)


if __name__ == "__main__":
    raise SystemExit(FastReadReplica().run())
