"""The gossip reference node: SWIM membership and failure detection, batched epidemic
broadcast along an overlay, and digest-based anti-entropy.

Run it with ``python3 -m reference_nodes.gossip``; it speaks the Maelstrom broadcast
workload plus ``members`` and ``dchaos_state`` (see :mod:`reference_nodes.gossip.node`),
with standard-library Python only. Parameters and defaults: :mod:`reference_nodes.gossip.config`
and docs/nodes/gossip.md.
"""
