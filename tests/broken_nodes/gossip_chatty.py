#!/usr/bin/env python3
"""Broken gossip node: no batching — every value travels alone, and every message is acked.

Bug: a value a client broadcasts is sent at once, in a message of its own, to every other
node, and each of those messages is acknowledged: 2·(n-1) messages per broadcast, where
the reference sends at most one batch per peer per interval for any number of values. At
the Gossip Glomers load (25 nodes, half of the operations broadcasts) that is about 24
server messages per operation for the values alone, over the budget of 20; the figure is
(n-1) per operation plus the failure detector's share, so small clusters need a smaller
budget to show it. Values still converge quickly (anti-entropy repairs any loss).

Must be caught by: the msgs-per-op checker.
"""

from __future__ import annotations

import contextlib

from reference_nodes.common.maelstrom import Message, RPCError, require
from reference_nodes.gossip.dissemination import CLIENT
from reference_nodes.gossip.node import GossipNode
from reference_nodes.gossip.values import Key

ACK_TIMEOUT = 5.0


class ChattyNode(GossipNode):
    def setup(self) -> None:
        super().setup()
        self.runtime.on("gossip_value", self.on_gossip_value)

    def spread(self, keys: list[Key], source: str | None, via: str) -> None:
        """The bug: each client value alone to each node, each message awaiting its ack."""
        if via != CLIENT:
            return  # the origin told everyone directly, as the reference does on full mesh
        for origin, seq in keys:
            body = {"type": "gossip_value", "origin": origin, "seq": seq,
                    "value": self.values.value((origin, seq))}
            for peer in self.membership.others():
                self.runtime.spawn(self._send_one(peer, body))

    async def _send_one(self, peer: str, body: dict[str, object]) -> None:
        with contextlib.suppress(RPCError):  # anti-entropy still repairs what gets lost
            await self.runtime.rpc(peer, body, ACK_TIMEOUT)

    def on_gossip_value(self, msg: Message) -> dict[str, str]:
        origin = require(msg.body, "origin", str)
        seq = require(msg.body, "seq", int)
        value = require(msg.body, "value", int)
        self.values.add(origin, seq, value)
        return {"type": "gossip_value_ok"}


if __name__ == "__main__":
    raise SystemExit(ChattyNode().run())
