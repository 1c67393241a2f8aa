"""PBFT's arithmetic, which the clients, the family and the checks all rely on."""

from __future__ import annotations


def max_faulty(n: int) -> int:
    """f: how many Byzantine replicas n replicas tolerate (n >= 3f + 1)."""
    return max(0, (n - 1) // 3)


def primary_of(view: int, nodes: tuple[str, ...]) -> str:
    """The primary of ``view``: ``n{view mod n + 1}``, as in the paper."""
    return nodes[view % len(nodes)]
