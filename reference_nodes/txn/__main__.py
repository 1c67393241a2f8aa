"""``python3 -m reference_nodes.txn``: run one transaction node on stdin/stdout."""

from __future__ import annotations

from reference_nodes.txn.node import main

if __name__ == "__main__":
    raise SystemExit(main())
