"""Topologies handed to nodes: undirected, loop-free, connected, and the right shape."""

from __future__ import annotations

import pytest

from pytest_dchaos.families.gossip import topology
from pytest_dchaos.families.gossip.topology import TOPOLOGIES, Topology
from pytest_dchaos.scenario.model import node_ids

SIZES = (1, 2, 3, 4, 5, 7, 9, 10, 25)


def reachable(topo: Topology, start: str) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for neighbour in topo[stack.pop()]:
            if neighbour not in seen:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen


def edges(topo: Topology) -> set[frozenset[str]]:
    return {frozenset((a, b)) for a, ns in topo.items() for b in ns}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_every_topology_is_a_simple_connected_undirected_graph(name: str, size: int) -> None:
    nodes = node_ids(size)
    topo = topology.build(name, nodes)
    assert sorted(topo) == sorted(nodes)
    for node, neighbours in topo.items():
        assert node not in neighbours, f"{name}: {node} lists itself"
        assert len(neighbours) == len(set(neighbours)), f"{name}: {node} lists a twin"
        assert set(neighbours) <= set(nodes)
        for other in neighbours:
            assert node in topo[other], f"{name}: {node} lists {other} but not back"
    assert reachable(topo, nodes[0]) == set(nodes), f"{name} with {size} nodes is split"


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_one_node_has_no_neighbours(name: str) -> None:
    assert topology.build(name, ("n1",)) == {"n1": []}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_two_nodes_know_each_other(name: str) -> None:
    assert topology.build(name, ("n1", "n2")) == {"n1": ["n2"], "n2": ["n1"]}


def test_line() -> None:
    assert topology.line(node_ids(4)) == {"n1": ["n2"], "n2": ["n1", "n3"],
                                          "n3": ["n2", "n4"], "n4": ["n3"]}
    assert len(edges(topology.line(node_ids(25)))) == 24


@pytest.mark.parametrize("size", [3, 5, 25])
def test_ring_gives_every_node_two_neighbours(size: int) -> None:
    topo = topology.ring(node_ids(size))
    assert all(len(ns) == 2 for ns in topo.values())
    assert len(edges(topo)) == size
    assert set(topo["n1"]) == {"n2", f"n{size}"}


def test_grid_of_25_is_five_by_five() -> None:
    topo = topology.grid(node_ids(25))
    degrees = sorted(len(ns) for ns in topo.values())
    assert degrees == [2] * 4 + [3] * 12 + [4] * 9
    assert sorted(topo["n13"]) == sorted(["n8", "n18", "n12", "n14"])  # the centre
    assert sorted(topo["n1"]) == ["n2", "n6"]
    assert sorted(topo["n5"]) == ["n10", "n4"]  # end of the first row does not wrap
    assert "n6" not in topo["n5"]
    assert len(edges(topo)) == 2 * 5 * 4


def test_grid_of_4_is_two_by_two() -> None:
    assert {n: sorted(ns) for n, ns in topology.grid(node_ids(4)).items()} == {
        "n1": ["n2", "n3"], "n2": ["n1", "n4"], "n3": ["n1", "n4"], "n4": ["n2", "n3"]}


def test_grid_with_a_partial_last_row() -> None:
    topo = topology.grid(node_ids(5))  # 3 wide: n1 n2 n3 / n4 n5
    assert {n: sorted(ns) for n, ns in topo.items()} == {
        "n1": ["n2", "n4"], "n2": ["n1", "n3", "n5"], "n3": ["n2"], "n4": ["n1", "n5"],
        "n5": ["n2", "n4"]}


@pytest.mark.parametrize(("name", "fanout"), [("tree2", 2), ("tree3", 3), ("tree4", 4)])
@pytest.mark.parametrize("size", [5, 10, 25])
def test_trees_have_the_fanout_and_no_cycle(name: str, fanout: int, size: int) -> None:
    topo = topology.build(name, node_ids(size))
    assert len(edges(topo)) == size - 1  # connected with n-1 edges: a tree
    assert topo["n1"] == [f"n{i}" for i in range(2, min(size, fanout + 1) + 1)]
    for i in range(2, size + 1):
        node = f"n{i}"
        parent = f"n{(i - 2) // fanout + 1}"
        assert topo[node][0] == parent
        assert len(topo[node]) <= fanout + 1


def test_tree2_of_seven() -> None:
    assert topology.build("tree2", node_ids(7)) == {
        "n1": ["n2", "n3"], "n2": ["n1", "n4", "n5"], "n3": ["n1", "n6", "n7"],
        "n4": ["n2"], "n5": ["n2"], "n6": ["n3"], "n7": ["n3"]}


@pytest.mark.parametrize("size", [3, 25])
def test_star_has_one_hub(size: int) -> None:
    topo = topology.star(node_ids(size))
    assert topo["n1"] == [f"n{i}" for i in range(2, size + 1)]
    assert all(topo[f"n{i}"] == ["n1"] for i in range(2, size + 1))


@pytest.mark.parametrize("size", [3, 25])
def test_total_links_everyone(size: int) -> None:
    topo = topology.total(node_ids(size))
    assert all(len(ns) == size - 1 for ns in topo.values())
    assert len(edges(topo)) == size * (size - 1) // 2


def test_no_nodes_no_topology() -> None:
    for name in TOPOLOGIES:
        assert topology.build(name, ()) == {}


def test_the_maelstrom_names_are_there() -> None:
    assert {"line", "grid", "tree2", "tree3", "tree4", "total"} <= set(TOPOLOGIES)
