"""``python3 -m reference_nodes.maelstrom.unique_ids``: globally unique ids with no
coordination, so every ``generate`` succeeds whatever the network does (the challenge asks
for total availability under partitions).

An id is ``"<node>-<boot>-<n>"``: the node id keeps nodes apart, ``n`` counts this
process's ids, and ``boot`` — 64 random bits drawn when the process starts — keeps a
restarted node from handing out its earlier life's ids again (the count starts from zero
with nothing on disk).
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from reference_nodes.common.maelstrom import Message, Node


def build() -> Node:
    node = Node()
    boot = secrets.token_hex(8)
    counter = itertools.count(1)

    @node.handler("generate")
    def generate(msg: Message) -> dict[str, Any]:
        return {"type": "generate_ok", "id": f"{node.node_id}-{boot}-{next(counter)}"}

    return node


if __name__ == "__main__":
    raise SystemExit(build().run())
