"""The Byzantine fault aimed at ``leader``: the node leading when it fires turns, and with
none leading nobody does."""

from __future__ import annotations

import random
from typing import Any, cast

from pytest_dchaos.faults.base import FaultEnv
from pytest_dchaos.faults.byzantine import Byzantine, ByzantineOptions

AIMED = ByzantineOptions("leader", "equivocate", 1.5, 3)


def env(leader: str | None) -> FaultEnv:
    # The cluster is never touched when no node turns; at_fire asks only who leads.
    return FaultEnv(cluster=cast(Any, None), key="f1", leader=lambda: leader)


def test_leader_is_left_for_the_moment_it_fires_and_then_named() -> None:
    fault = Byzantine()
    drawn = fault.resolve(AIMED, random.Random(1), ("n1", "n2", "n3", "n4"))
    assert drawn.node == "leader" and fault.nodes(drawn) == ()
    fired = fault.at_fire(drawn, env("n3"))
    assert fired.node == "n3" and fault.nodes(fired) == ("n3",)
    assert fault.describe(fired) == "n3 turns equivocate"


def test_with_no_node_leading_nobody_turns() -> None:
    fault = Byzantine()
    fired = fault.at_fire(AIMED, env(None))
    assert fault.nodes(fired) == ()
    assert fault.describe(fired) == "(no node leads) turns equivocate"
    fault.start(fired, env(None))  # tells nobody (a cluster call would fail here)
    fault.stop(fired, env(None))


def test_a_named_node_is_left_as_it_is() -> None:
    named = ByzantineOptions("n2", "silent", 1.5, 3)
    assert Byzantine().at_fire(named, env("n4")) is named
