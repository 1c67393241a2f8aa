#!/usr/bin/env python3
"""Broken node: replies to reads name the wrong request.

Bug: ``read_ok`` carries ``in_reply_to`` one more than the ``read``'s ``msg_id`` (an
off-by-one in a hand-written reply). Everything else is the reference gossip node.

Must be caught by: the conformance kit's in_reply_to check (``dchaos conform``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reference_nodes.common.maelstrom import Message, Node
from reference_nodes.gossip.node import GossipNode


class OffByOne(Node):
    def reply(self, request: Message, body: dict[str, Any]) -> None:
        """The bug: the reply to a read names the request after it."""
        if body.get("type") == "read_ok" and request.msg_id is not None:
            request = replace(request, body={**request.body, "msg_id": request.msg_id + 1})
        super().reply(request, body)


if __name__ == "__main__":
    raise SystemExit(GossipNode(OffByOne()).run())
