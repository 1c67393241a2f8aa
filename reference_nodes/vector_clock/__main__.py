"""``python3 -m reference_nodes.vector_clock``: run one vector-clock node on stdin/stdout."""

from __future__ import annotations

from reference_nodes.vector_clock.node import main

if __name__ == "__main__":
    raise SystemExit(main())
