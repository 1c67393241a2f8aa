"""Topologies the harness can hand to nodes (Maelstrom's ``topology`` message).

The names and shapes follow Maelstrom's broadcast workload — ``line``, ``grid`` (its
default), ``tree2``/``tree3``/``tree4``, ``total`` — so a Maelstrom broadcast node sees what
it expects; ``ring`` and ``star`` are added for experiments. Every topology is undirected:
if a lists b, b lists a.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Topology = dict[str, list[str]]


def line(nodes: Sequence[str]) -> Topology:
    return {n: [m for m in (nodes[i - 1] if i else None,
                            nodes[i + 1] if i + 1 < len(nodes) else None) if m]
            for i, n in enumerate(nodes)}


def ring(nodes: Sequence[str]) -> Topology:
    if len(nodes) < 3:
        return line(nodes)
    count = len(nodes)
    return {n: [nodes[(i - 1) % count], nodes[(i + 1) % count]] for i, n in enumerate(nodes)}


def grid(nodes: Sequence[str]) -> Topology:
    width = max(1, math.isqrt(len(nodes) - 1) + 1) if nodes else 1
    out: Topology = {}
    for i, node in enumerate(nodes):
        row, col = divmod(i, width)
        neighbours = []
        for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            j = r * width + c
            if 0 <= c < width and 0 <= j < len(nodes) and r >= 0:
                neighbours.append(nodes[j])
        out[node] = neighbours
    return out


def tree(fanout: int) -> Callable[[Sequence[str]], Topology]:
    def build(nodes: Sequence[str]) -> Topology:
        out: Topology = {n: [] for n in nodes}
        for i in range(1, len(nodes)):
            parent = nodes[(i - 1) // fanout]
            out[nodes[i]].append(parent)
            out[parent].append(nodes[i])
        return out
    return build


def total(nodes: Sequence[str]) -> Topology:
    return {n: [m for m in nodes if m != n] for n in nodes}


def star(nodes: Sequence[str]) -> Topology:
    if not nodes:
        return {}
    hub = nodes[0]
    out: Topology = {n: [hub] for n in nodes[1:]}
    out[hub] = list(nodes[1:])
    return out


TOPOLOGIES: dict[str, Callable[[Sequence[str]], Topology]] = {
    "line": line,
    "ring": ring,
    "grid": grid,
    "tree2": tree(2),
    "tree3": tree(3),
    "tree4": tree(4),
    "total": total,
    "star": star,
}


def build(name: str, nodes: Sequence[str]) -> Topology:
    return TOPOLOGIES[name](nodes)
