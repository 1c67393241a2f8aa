"""Each deliberately broken gossip node (tests/broken_nodes) shows its one bug.

The checkers' own tests run these under the harness; here we only make sure each variant
starts, speaks the contract, and misbehaves in exactly the advertised way — so a checker
that passes one of them is wrong, not the variant.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dchaos.testing import Router, eventually

from .conftest import FAST, REPO_ROOT, MakeCluster

BROKEN = REPO_ROOT / "tests" / "broken_nodes"


def broken(name: str) -> tuple[str, ...]:
    path = BROKEN / f"gossip_{name}.py"
    assert path.read_text().startswith("#!/usr/bin/env python3\n")
    return (sys.executable, str(path))


def statuses(router: Router, member: str) -> dict[str, str]:
    return {n: router.members(n)["members"][member] for n in router.live() if n != member}


@pytest.mark.slow
def test_no_forward_keeps_values_where_they_land(make_cluster: MakeCluster) -> None:
    router = make_cluster(3, command=broken("no_forward"))
    router.broadcast("n1", 1)
    time.sleep(1.0)  # many gossip and anti-entropy intervals
    assert router.read("n1") == [1]
    assert router.read("n2") == [] and router.read("n3") == []


def test_invents_reads_a_value_nobody_sent(make_cluster: MakeCluster) -> None:
    router = make_cluster(3, command=broken("invents"))
    router.broadcast("n1", 1)
    eventually(lambda: _reads(router, "n3", [1, 999999999]), 5)


def _reads(router: Router, node: str, expected: list[int]) -> None:
    assert router.read(node) == expected


def _holds(router: Router, node: str, value: int) -> None:
    assert value in router.read(node)


@pytest.mark.slow
def test_never_dead_leaves_a_crashed_node_suspect(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, command=broken("never_dead"))
    router.kill("n4")
    eventually(lambda: _all(statuses(router, "n4"), "suspect"), 10)
    time.sleep(2 * FAST["suspicion_timeout_ms"] / 1000 + 0.5)  # the reference would be done
    assert set(statuses(router, "n4").values()) == {"suspect"}


def _all(seen: dict[str, str], status: str) -> None:
    assert set(seen.values()) == {status}, seen


def test_trigger_happy_kills_live_nodes_on_slow_links(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, command=broken("trigger_happy"), params={}, latency=0.1)

    def someone_live_marked_dead() -> None:
        marks = {n: router.members(n)["members"] for n in router.node_ids}
        assert any(s == "dead" for members in marks.values() for s in members.values()), marks

    eventually(someone_live_marked_dead, 10, interval=0.2)


def _cut_off_one_way(router: Router) -> None:
    """Messages to n4 are lost; n4's still reach the others, who hear it but cannot be
    heard by it."""
    for other in ("n1", "n2", "n3"):
        router.cut(other, "n4", both_ways=False)


def _chattering(router: Router, seconds: float) -> Iterator[dict[str, str]]:
    """For ``seconds``, a client broadcast at n4 every 50 ms (so n4 keeps speaking to the
    others, as under a workload) and, after each, how the others see n4."""
    deadline = time.monotonic() + seconds
    value = 0
    while time.monotonic() < deadline:
        value += 1
        router.broadcast("n4", value)
        yield statuses(router, "n4")
        time.sleep(0.05)


@pytest.mark.slow
def test_heard_is_reachable_never_marks_dead_a_member_cut_off_one_way(
        make_cluster: MakeCluster) -> None:
    reference = make_cluster(4)
    _cut_off_one_way(reference)
    assert any(set(seen.values()) == {"dead"} for seen in _chattering(reference, 10.0))

    router = make_cluster(4, command=broken("heard_is_reachable"))
    _cut_off_one_way(router)
    # The reference is done in under two seconds.
    assert all("dead" not in seen.values() for seen in _chattering(router, 4.0))


@pytest.mark.slow
def test_no_rejoin_never_readmits_a_restarted_node(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, command=broken("no_rejoin"))
    router.kill("n4")
    eventually(lambda: _all(statuses(router, "n4"), "dead"), 10)
    router.restart("n4")
    time.sleep(2.0)  # the reference rejoins within a few probe intervals
    assert set(statuses(router, "n4").values()) == {"dead"}
    assert router.members("n4")["incarnation"]["n4"] >= 1  # it did refute


@pytest.mark.slow
def test_chatty_sends_every_value_alone_and_acks_it(make_cluster: MakeCluster) -> None:
    counts = {}
    for name, command in (("reference", None), ("chatty", broken("chatty"))):
        router = make_cluster(4, **({"command": command} if command else {}))
        for value in range(20):
            router.broadcast("n1", value)
        eventually(lambda r=router: _reads(r, "n4", list(range(20))), 5)
        time.sleep(0.3)
        counts[name] = sum(router.sent[t] for t in ("gossip", "gossip_value", "gossip_value_ok"))
    # One client sending one value at a time gives the reference one batch per value (its
    # broadcast_ok waits for the batch): at most 3 gossips per value.
    assert counts["reference"] <= 20 * 3, counts
    # The chatty node sends each value alone to each peer, and each message is acknowledged.
    assert counts["chatty"] >= 20 * 3 * 2, counts


@pytest.mark.slow
def test_slow_holds_batches_for_two_seconds(make_cluster: MakeCluster) -> None:
    params = {**FAST, "anti_entropy_interval_ms": 60_000}  # only gossip may carry values
    router = make_cluster(3, command=broken("slow"), params=params)
    # Five values half a second apart span a whole 2 s batch period, so one of them is
    # broadcast just after a batch left and waits about 1.5 s or more for the next one,
    # however loaded the machine is (load only adds delay).
    delays = []
    for value in range(1, 6):
        started = time.monotonic()
        router.broadcast("n1", value)
        eventually(lambda v=value: _holds(router, "n3", v), 5, interval=0.02)
        delays.append(time.monotonic() - started)
        time.sleep(max(0.0, 0.5 - delays[-1]))
    assert max(delays) > 1.3, f"delays {delays}"


def test_reference_node_passes_where_the_broken_ones_fail(make_cluster: MakeCluster) -> None:
    params = {**FAST, "anti_entropy_interval_ms": 60_000}
    router = make_cluster(3, params=params)
    for value in (1, 2):
        router.broadcast("n1", value)
        started = time.monotonic()
        eventually(lambda v=value: _reads(router, "n3", list(range(1, v + 1))), 5,
                   interval=0.02)
        assert time.monotonic() - started < 1.0


def test_every_broken_variant_is_listed() -> None:
    # gossip_flaps shows its bug only in a race (stale news after a restart) that the
    # harness-level case in tests/integration/test_broken_nodes.py sets up and checks.
    names = {p.stem for p in Path(BROKEN).glob("gossip_*.py")}
    assert names == {"gossip_no_forward", "gossip_invents", "gossip_never_dead",
                     "gossip_trigger_happy", "gossip_no_rejoin", "gossip_chatty",
                     "gossip_slow", "gossip_flaps", "gossip_heard_is_reachable"}
