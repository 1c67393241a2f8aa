#!/usr/bin/env python3
"""Broken unique-ids node: each node counts 1, 2, 3... without its node id.

Bug: unique on one node, so it passes a one-node test; with three, n1's 1 is n2's 1.

Must be caught by: unique_ids, naming an id handed out twice and the nodes that did.
"""

from __future__ import annotations

import itertools
from typing import Any

from reference_nodes.common.maelstrom import Message, Node

node = Node()
counter = itertools.count(1)


@node.handler("generate")
def generate(msg: Message) -> dict[str, Any]:
    return {"type": "generate_ok", "id": next(counter)}


if __name__ == "__main__":
    raise SystemExit(node.run())
