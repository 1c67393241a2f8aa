"""``python3 -m reference_nodes.pbft``: run one PBFT replica on stdin/stdout."""

from __future__ import annotations

from reference_nodes.pbft.node import main

if __name__ == "__main__":
    raise SystemExit(main())
