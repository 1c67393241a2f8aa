"""``python3 -m reference_nodes.gossip``: run one gossip node on stdin/stdout."""

from __future__ import annotations

from reference_nodes.gossip.node import main

if __name__ == "__main__":
    raise SystemExit(main())
