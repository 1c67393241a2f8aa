#!/usr/bin/env python3
"""Broken node: lists ``members`` in ``init_ok`` but answers it in the wrong shape.

Bug: ``members_ok`` lists the members it believes alive (``["n1", "n2"]``) instead of
mapping every node to alive, suspect or dead, and has no incarnations. Everything else
is the reference gossip node, which lists ``members`` among its extensions.

Must be caught by: the conformance kit's members check (``dchaos conform``).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message
from reference_nodes.gossip.node import GossipNode


class ListedMembers(GossipNode):
    def on_members(self, msg: Message) -> dict[str, Any]:
        """The bug: a list of live members, not a status per node."""
        statuses = self.membership.statuses()
        return {"type": "members_ok",
                "members": sorted(n for n, status in statuses.items() if status == "alive")}


if __name__ == "__main__":
    raise SystemExit(ListedMembers().run())
