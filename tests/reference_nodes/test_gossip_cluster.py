"""The gossip reference node as a cluster of real processes wired by the test router.

Bounds are generous: these run on loaded 2-core machines. The protocol's own timing
targets are measured by the project's benchmark, not here.
"""

from __future__ import annotations

import time

import pytest

from pytest_dchaos.testing import Router, eventually

from .conftest import FAST, MakeCluster


def converged(router: Router, expected: list[int]) -> None:
    for node in router.live():
        assert router.read(node) == expected, f"{node} reads {router.read(node)}"


def everyone_sees(router: Router, member: str, status: str) -> None:
    for node in router.live():
        if node != member:
            seen = router.members(node)["members"][member]
            assert seen == status, f"{node} sees {member} as {seen}, not {status}"


def all_alive(router: Router) -> None:
    for node in router.live():
        members = router.members(node)["members"]
        assert set(members.values()) == {"alive"}, f"{node}: {members}"


def test_values_reach_every_node(make_cluster: MakeCluster) -> None:
    router = make_cluster(5, latency=0.01)
    expected = list(range(30))
    for value in reversed(expected):
        router.broadcast(f"n{value % 5 + 1}", value)
    router.broadcast("n1", 7)  # a repeat is acknowledged and changes nothing
    eventually(lambda: converged(router, expected), 10)
    assert router.bad_output == []


def test_members_and_state_shapes(make_cluster: MakeCluster) -> None:
    router = make_cluster(3)
    router.broadcast("n2", 42)
    reply = router.members("n1")
    assert reply["members"] == {"n1": "alive", "n2": "alive", "n3": "alive"}
    assert reply["incarnation"] == {"n1": 0, "n2": 0, "n3": 0}
    state = router.rpc("n2", {"type": "dchaos_state"})
    assert state["type"] == "dchaos_state_ok"
    assert set(state["members"]) == {"n1", "n2", "n3"}
    assert all(isinstance(i, int) for i in state["incarnation"].values())
    assert state["messages"] == [42]
    assert state["overlay"]["mode"] == "full" and state["params"]["gossip_interval_ms"] == 50


def test_bad_requests_get_errors(make_cluster: MakeCluster) -> None:
    router = make_cluster(2)
    assert router.rpc("n1", {"type": "broadcast", "message": "7"})["code"] == 12
    assert router.rpc("n1", {"type": "broadcast", "message": True})["code"] == 12
    assert router.rpc("n1", {"type": "topology", "topology": {"n1": "n2"}})["code"] == 12
    assert router.rpc("n1", {"type": "txn", "txn": []})["code"] == 10
    router.send_line("n1", b"{not json")
    assert router.read("n1") == []


def test_values_cut_off_by_a_partition_arrive_after_it_heals(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, latency=0.01)
    router.partition(["n1", "n2"], ["n3", "n4"])
    router.broadcast("n1", 1)
    router.broadcast("n4", 4)
    time.sleep(0.5)
    assert 4 not in router.read("n2") and 1 not in router.read("n3")
    router.heal()
    # Gossip sent these during the partition, and it is never resent: only anti-entropy
    # can bring them across.
    eventually(lambda: converged(router, [1, 4]), 10)


@pytest.mark.slow
def test_killed_node_is_declared_dead_and_a_restart_rejoins(make_cluster: MakeCluster) -> None:
    router = make_cluster(5, latency=0.01)
    for value in range(10):
        router.broadcast(f"n{value % 5 + 1}", value)
    eventually(lambda: converged(router, list(range(10))), 10)
    router.kill("n3")
    eventually(lambda: everyone_sees(router, "n3", "dead"), 10)
    router.broadcast("n1", 100)  # a value the restarted node never saw
    router.restart("n3")
    eventually(lambda: all_alive(router), 10)
    eventually(lambda: converged(router, [*range(10), 100]), 10)
    incarnation = router.members("n1")["incarnation"]["n3"]
    assert incarnation >= 1, "n3 refuted its death with a higher incarnation"
    assert router.members("n3")["incarnation"]["n3"] == incarnation


@pytest.mark.slow
def test_isolated_node_is_readmitted_and_readmits_others(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, latency=0.01)
    router.partition(["n1"], ["n2", "n3", "n4"])
    router.broadcast("n1", 1)
    router.broadcast("n2", 2)

    def split() -> None:
        assert set(router.members("n1")["members"].values()) == {"alive", "dead"}
        assert router.members("n1")["members"]["n1"] == "alive"
        everyone_sees(router, "n1", "dead")

    eventually(split, 10)
    router.heal()
    eventually(lambda: all_alive(router), 10)
    eventually(lambda: converged(router, [1, 2]), 10)


@pytest.mark.slow
def test_paused_node_is_declared_dead_and_rejoins_when_resumed(make_cluster: MakeCluster) -> None:
    router = make_cluster(4, latency=0.01)
    router.pause("n2")
    try:
        eventually(lambda: everyone_sees(router, "n2", "dead"), 10)
        router.broadcast("n1", 5)
    finally:
        router.resume("n2")
    eventually(lambda: all_alive(router), 10)
    eventually(lambda: converged(router, [5]), 10)


@pytest.mark.slow
def test_slow_links_cause_no_false_suspicion_but_real_deaths_are_found(
        make_cluster: MakeCluster) -> None:
    # 100 ms each way, default parameters: timeouts must adapt to the round trip.
    router = make_cluster(5, params={}, latency=0.1)
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        all_alive(router)
        time.sleep(0.3)
    router.broadcast("n1", 1)
    eventually(lambda: converged(router, [1]), 5)
    killed_at = time.monotonic()
    router.kill("n5")
    eventually(lambda: everyone_sees(router, "n5", "dead"), 10)
    assert time.monotonic() - killed_at < 10
    all_alive_but_n5 = {n: router.members(n)["members"] for n in router.live()}
    for node, members in all_alive_but_n5.items():
        assert {m for m, s in members.items() if s != "alive"} == {"n5"}, node


@pytest.mark.parametrize(("overlay", "topology"), [
    # A line: n1's values can only reach n5 by being relayed three times.
    ("topology", {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2", "n4"], "n4": ["n3", "n5"],
                  "n5": ["n4"]}),
    ("circulant", None),
])
def test_sparse_overlays_relay(make_cluster: MakeCluster, overlay: str,
                               topology: dict[str, list[str]] | None) -> None:
    # Anti-entropy is slowed right down so that only relaying can pass this in time.
    params = {**FAST, "overlay": overlay, "overlay_degree": 2,
              "anti_entropy_interval_ms": 60_000}
    router = make_cluster(5, params=params, topology=topology, latency=0.01)
    state = router.rpc("n1", {"type": "dchaos_state"})
    assert state["overlay"]["mode"] == overlay and len(state["overlay"]["neighbours"]) <= 2
    for value in range(1, 6):
        router.broadcast(f"n{value}", value)
    eventually(lambda: converged(router, [1, 2, 3, 4, 5]), 5)


def test_stale_death_news_about_a_member_heard_from_is_only_suspicion(
        make_cluster: MakeCluster) -> None:
    """After a partition heals, the other side's death certificates arrive. A node that
    has just heard from the 'dead' member treats the news as suspicion, so the member
    refutes it instead of being marked dead (a false positive) first."""
    import json

    router = make_cluster(3, params=FAST)
    router.broadcast("n3", 7)  # n3 gossips it to n2 directly: n2 has just heard from n3
    eventually(lambda: _reads(router, "n2", [7]), 5, interval=0.01)
    rumour = {"src": "n1", "dest": "n2",
              "body": {"type": "gossip", "entries": {}, "members": [["n3", "dead", 0]]}}
    router.send_line("n2", json.dumps(rumour).encode())
    # n3 refutes within a gossip interval either way; the log shows what n2 made of it.
    eventually(lambda: _statuses_are(router, "n2", {"n3": "alive"}), 5)
    assert router.members("n2")["incarnation"]["n3"] >= 1  # n3 refuted the rumour
    log = router.log("n2")
    assert "n3: alive@0 -> suspect@0" in log
    assert "n3: alive@0 -> dead@0" not in log


def _reads(router: Router, node: str, expected: list[int]) -> None:
    assert router.read(node) == expected


def _statuses_are(router: Router, node: str, expected: dict[str, str]) -> None:
    view = router.members(node)["members"]
    assert {m: view[m] for m in expected} == expected, view
