#!/usr/bin/env python3
"""Broken unique-ids node: ``"<node>-<n>"`` with ``n`` counted in memory from 1.

Bug: unique across nodes, and unique for as long as no node restarts; a restarted node
counts from 1 again and hands out its earlier life's ids a second time. (The reference
node adds a random boot id.)

Must be caught by: unique_ids, in a run where a node restarts.
"""

from __future__ import annotations

import itertools
from typing import Any

from reference_nodes.common.maelstrom import Message, Node

node = Node()
counter = itertools.count(1)


@node.handler("generate")
def generate(msg: Message) -> dict[str, Any]:
    return {"type": "generate_ok", "id": f"{node.node_id}-{next(counter)}"}


if __name__ == "__main__":
    raise SystemExit(node.run())
