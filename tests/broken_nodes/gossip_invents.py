#!/usr/bin/env python3
"""Broken gossip node: reads report a value nobody broadcast.

Bug: ``read`` answers with every known value plus :data:`INVENTED` (999999999), which no
client ever sent. Dissemination and membership work as in the reference node.

Must be caught by: the no-invented-values checker.
"""

from __future__ import annotations

from reference_nodes.gossip.node import GossipNode

INVENTED = 999999999


class InventingNode(GossipNode):
    def read_values(self) -> list[int]:
        """The bug: a value out of thin air in every read."""
        return sorted({*super().read_values(), INVENTED})


if __name__ == "__main__":
    raise SystemExit(InventingNode().run())
