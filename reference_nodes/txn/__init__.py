"""The distributed-transaction reference node: a sharded key-value store whose nodes
coordinate transactions with two- or three-phase commit over a write-ahead log, under
strict two-phase locking, with distributed deadlock detection.

Run it with ``python3 -m reference_nodes.txn``; standard-library Python only. The messages
it speaks are described in :mod:`reference_nodes.txn.node` and docs/nodes/txn.md.
"""
