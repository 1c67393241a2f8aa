"""Placement constraints, as Docker Swarm writes them, and the machines they choose."""

from __future__ import annotations

import pytest

from pytest_dchaos.scenario.placement import parse_constraint, place

MACHINES = {
    "m1": {"node.id": "id1", "node.hostname": "m1", "node.role": "manager",
           "node.labels.zone": "a"},
    "m2": {"node.id": "id2", "node.hostname": "m2", "node.role": "worker",
           "node.labels.zone": "b", "engine.labels.disk": "ssd"},
    "m3": {"node.id": "id3", "node.hostname": "m3", "node.role": "worker",
           "node.labels.zone": "a"},
}


def on(nodes: list[str], constraints: dict[str, list[str]]) -> dict[str, str]:
    return place(nodes, list(MACHINES), MACHINES.__getitem__, constraints)


@pytest.mark.parametrize(("text", "met_by"), [
    ("node.labels.zone==a", {"m1", "m3"}),
    ("node.labels.zone != a", {"m2"}),
    ("node.role==worker", {"m2", "m3"}),
    ("node.hostname==m2", {"m2"}),
    ("node.id==id3", {"m3"}),
    ("engine.labels.disk==ssd", {"m2"}),
    ("node.labels.rack==r1", set()),        # a label a machine lacks equals nothing...
    ("node.labels.rack!=r1", set(MACHINES)),  # ...so every machine differs from it
])
def test_a_constraint_is_met_by_the_machines_it_names(text: str, met_by: set[str]) -> None:
    constraint = parse_constraint(text)
    assert {name for name, facts in MACHINES.items() if constraint.met_by(facts)} == met_by


@pytest.mark.parametrize("text", ["zone==a", "node.labels==a", "node.role=worker",
                                  "node.role==", "engine.labels.x<>y", ""])
def test_what_is_not_a_constraint_says_what_one_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match="is not a placement constraint like"):
        parse_constraint(text)


def test_unconstrained_nodes_go_round_robin_over_every_machine() -> None:
    assert on(["n1", "n2", "n3", "n4"], {}) == {"n1": "m1", "n2": "m2", "n3": "m3",
                                                "n4": "m1"}


def test_constrained_nodes_go_round_robin_over_the_machines_that_meet_every_one() -> None:
    placed = on(["n1", "n2", "n3", "n4", "n5"], {
        "n1": ["node.labels.zone==a"], "n2": ["node.labels.zone==a"],
        "n3": ["node.labels.zone==a"], "n4": ["node.role==worker", "node.labels.zone==a"]})
    assert placed == {"n1": "m1", "n2": "m3", "n3": "m1", "n4": "m3", "n5": "m1"}


def test_a_node_no_machine_can_take_is_named() -> None:
    with pytest.raises(ValueError, match=r"no machine meets the placement of n2 "
                                         r"\(node.role==worker, node.labels.zone==c\)"):
        on(["n1", "n2"], {"n2": ["node.role==worker", "node.labels.zone==c"]})
