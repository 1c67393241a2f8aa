"""The dependency graph's cycle search on hand-made graphs: each cycle named by its own
edges, each edge taken as its weakest kind."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pytest_dchaos.families.txn.checks.graph import (
    Because,
    Graph,
    Kind,
    components,
    find_cycles,
    name_of,
)


@dataclass(frozen=True)
class T:
    index: int


def graph(*edges: tuple[int, str, int]) -> Graph:
    g = Graph()
    for src, kinds, dst in edges:
        for kind in kinds.split("+"):
            g.add(T(src), T(dst), _kind(kind), Because(0))
    return g


def _kind(text: str) -> Kind:
    assert text in ("ww", "wr", "rw")
    return text  # type: ignore[return-value]


def names(g: Graph) -> list[str]:
    return sorted(name_of(c) for c in find_cycles(g))


def test_each_cycle_is_named_by_its_own_edges_not_its_component() -> None:
    # A write cycle 1 <-> 2, and 3 hanging on it by a read and an anti-dependency.
    g = graph((1, "ww", 2), (2, "ww", 1), (1, "wr", 3), (3, "rw", 2))
    assert names(g) == ["G-single", "G0"]


def test_an_edge_of_several_kinds_counts_as_its_weakest() -> None:
    # 1 -> 2 is a write and an anti-dependency at once: the cycle needs no rw.
    assert names(graph((1, "ww+rw", 2), (2, "wr", 1))) == ["G1c"]


def test_g2_needs_two_anti_dependencies() -> None:
    assert names(graph((1, "rw", 2), (2, "rw", 1))) == ["G2"]
    assert names(graph((1, "rw", 2), (2, "wr", 3), (3, "rw", 1))) == ["G2"]
    assert names(graph((1, "rw", 2), (2, "wr", 1))) == ["G-single"]


def test_no_cycle_no_anomaly() -> None:
    assert names(graph((1, "ww", 2), (2, "wr", 3), (1, "rw", 3))) == []


def test_components_of_a_long_chain_with_one_back_edge() -> None:
    edges = {n: [n + 1] for n in range(1, 5000)}
    edges[5000] = [1]
    (component,) = components(edges, lambda n: edges.get(n, []))
    assert component == list(range(1, 5001))


def test_a_dense_component_is_searched_in_bounded_time() -> None:
    # Everything anti-depends on everything: one huge component, and a G2 in it.
    g = graph(*((a, "rw", b) for a in range(1, 120) for b in range(1, 120) if a != b))
    started = time.monotonic()
    assert names(g) == ["G2"]
    assert time.monotonic() - started < 5
