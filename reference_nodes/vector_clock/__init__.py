"""The vector-clock reference node: causal broadcast with vector timestamps, resource
transfers, and Chandy-Lamport snapshots over reliable FIFO channels.

Run it with ``python3 -m reference_nodes.vector_clock``; standard-library Python only. The
messages it speaks are described in :mod:`reference_nodes.vector_clock.node` and
docs/nodes/vector_clock.md.
"""
