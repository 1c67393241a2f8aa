"""Partition links, and the bookkeeping that keeps overlapping network faults apart."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pytest_dchaos.cluster.network import BASELINE, Link, Network, partition_links
from pytest_dchaos.errors import HarnessError

NODES = ("n1", "n2", "n3", "n4")


def both_ways(a: str, b: str) -> set[Link]:
    return {(a, b), (b, a)}


# --- partition_links ----------------------------------------------------------------------


def test_two_groups_cut_every_link_between_them_and_none_inside() -> None:
    links = partition_links([["n1", "n2"], ["n3", "n4"]], NODES)
    assert links == frozenset(both_ways("n1", "n3") | both_ways("n1", "n4")
                              | both_ways("n2", "n3") | both_ways("n2", "n4"))


def test_unlisted_nodes_form_one_more_group() -> None:
    assert partition_links([["n1"]], NODES) == frozenset(
        both_ways("n1", "n2") | both_ways("n1", "n3") | both_ways("n1", "n4"))


def test_three_groups() -> None:
    links = partition_links([["n1"], ["n2"]], ["n1", "n2", "n3"])
    assert links == frozenset(both_ways("n1", "n2") | both_ways("n1", "n3")
                              | both_ways("n2", "n3"))


def test_every_node_listed_in_one_group_cuts_nothing() -> None:
    assert partition_links([list(NODES)], NODES) == frozenset()
    assert partition_links([], NODES) == frozenset()


def test_partition_links_are_symmetric_and_never_self_links() -> None:
    links = partition_links([["n1", "n3"], ["n4"]], NODES)
    assert all((b, a) in links for a, b in links)
    assert all(a != b for a, b in links)
    assert len(links) == 2 * (2 * 1 + 2 * 1 + 1 * 1)


# --- Network with a recording driver ------------------------------------------------------


class RecordingDriver:
    """Records what the fault layer asks of Toxiproxy, and the state it would be in."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.disabled: set[str] = set()
        self.toxics: dict[tuple[str, str], dict[str, Any]] = {}

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append(("set_enabled", name, enabled))
        if enabled:
            self.disabled.discard(name)
        else:
            self.disabled.add(name)

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: dict[str, Any],
                  stream: str = "upstream", toxicity: float = 1.0) -> None:
        self.calls.append(("add_toxic", proxy, name, toxic_type, dict(attributes), stream,
                           toxicity))
        assert (proxy, name) not in self.toxics, "Toxiproxy refuses a duplicate toxic name"
        self.toxics[(proxy, name)] = {"type": toxic_type, "attributes": dict(attributes)}

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(("remove_toxic", proxy, name))
        del self.toxics[(proxy, name)]

    def server_of(self, proxy: str) -> int:
        return 0


def proxy(link: Link) -> str:
    return f"{link[0]}_{link[1]}"


@pytest.fixture
def driver() -> RecordingDriver:
    return RecordingDriver()


@pytest.fixture
def network(driver: RecordingDriver) -> Network:
    proxies = {(a, b): proxy((a, b)) for a in NODES for b in NODES if a != b}
    return Network(driver, proxies)  # type: ignore[arg-type]


def test_cut_disables_the_proxies_and_revert_enables_them(network: Network,
                                                          driver: RecordingDriver) -> None:
    network.cut("f1", both_ways("n1", "n2"))
    assert driver.calls == [("set_enabled", "n1_n2", False), ("set_enabled", "n2_n1", False)]
    assert network.cut_links() == frozenset(both_ways("n1", "n2"))
    assert network.active_keys() == ["f1"]
    network.revert("f1")
    assert driver.calls[2:] == [("set_enabled", "n1_n2", True), ("set_enabled", "n2_n1", True)]
    assert network.cut_links() == frozenset()
    assert network.active_keys() == []


def test_links_outside_the_network_are_ignored(network: Network,
                                               driver: RecordingDriver) -> None:
    network.cut("f1", {("n1", "n9"), ("n1", "n2")})
    assert driver.calls == [("set_enabled", "n1_n2", False)]
    assert network.cut_links() == frozenset({("n1", "n2")})


def test_link_cut_by_two_keys_stays_cut_until_both_are_reverted(
        network: Network, driver: RecordingDriver) -> None:
    network.cut("f1", both_ways("n1", "n2") | both_ways("n1", "n3"))
    network.cut("f2", both_ways("n1", "n2") | both_ways("n2", "n4"))
    # The shared link is disabled once, by the first cut.
    assert driver.calls.count(("set_enabled", "n1_n2", False)) == 1
    assert driver.disabled == {"n1_n2", "n2_n1", "n1_n3", "n3_n1", "n2_n4", "n4_n2"}

    network.revert("f1")
    assert driver.disabled == {"n1_n2", "n2_n1", "n2_n4", "n4_n2"}
    assert ("set_enabled", "n1_n2", True) not in driver.calls
    assert network.cut_links() == frozenset(both_ways("n1", "n2") | both_ways("n2", "n4"))

    network.revert("f2")
    assert driver.disabled == set()
    assert driver.calls.count(("set_enabled", "n1_n2", True)) == 1
    assert network.cut_links() == frozenset()


def test_reverting_in_the_other_order_is_the_same(network: Network,
                                                  driver: RecordingDriver) -> None:
    network.cut("f1", both_ways("n1", "n2"))
    network.cut("f2", both_ways("n1", "n2"))
    network.revert("f2")
    assert driver.disabled == {"n1_n2", "n2_n1"}
    network.revert("f1")
    assert driver.disabled == set()


def test_reverting_an_unknown_or_reverted_key_does_nothing(network: Network,
                                                           driver: RecordingDriver) -> None:
    network.cut("f1", {("n1", "n2")})
    network.revert("f1")
    calls = list(driver.calls)
    network.revert("f1")
    network.revert("nope")
    assert driver.calls == calls


def test_toxics_belong_to_their_key(network: Network, driver: RecordingDriver) -> None:
    network.add_toxic("f1", {("n1", "n2"), ("n2", "n1")}, "bandwidth", {"rate": 10}, 0.5)
    network.add_toxic("f2", {("n1", "n2")}, "timeout", {"timeout": 0})
    assert ("add_toxic", "n1_n2", "f1_bandwidth_0", "bandwidth", {"rate": 10}, "upstream",
            0.5) in driver.calls
    assert set(driver.toxics) == {("n1_n2", "f1_bandwidth_0"), ("n2_n1", "f1_bandwidth_0"),
                                  ("n1_n2", "f2_timeout_0")}
    network.revert("f1")
    assert set(driver.toxics) == {("n1_n2", "f2_timeout_0")}
    assert network.active_keys() == ["f2"]


def test_two_toxics_of_one_key_get_distinct_names(network: Network,
                                                  driver: RecordingDriver) -> None:
    network.add_toxic("f1", {("n1", "n2")}, "latency", {"latency": 10})
    network.add_toxic("f1", {("n1", "n2")}, "latency", {"latency": 20})
    assert len(driver.toxics) == 2
    network.revert("f1")
    assert driver.toxics == {}


def test_set_latency_is_a_latency_toxic_in_milliseconds(network: Network,
                                                        driver: RecordingDriver) -> None:
    network.set_latency("f1", {("n3", "n4")}, 0.2, 0.015)
    assert driver.calls == [("add_toxic", "n3_n4", "f1_latency_0", "latency",
                             {"latency": 200, "jitter": 15}, "upstream", 1.0)]


def test_zero_latency_adds_no_toxic(network: Network, driver: RecordingDriver) -> None:
    network.set_latency("f1", {("n3", "n4")}, 0.0, 0.0)
    assert driver.calls == []
    assert network.active_keys() == []


def test_heal_reverts_every_fault_but_keeps_the_baseline(network: Network,
                                                         driver: RecordingDriver) -> None:
    network.set_latency(BASELINE, network.links, 0.005)
    network.cut("f1", both_ways("n1", "n2"))
    network.cut("f2", both_ways("n1", "n2") | both_ways("n3", "n4"))
    network.add_toxic("f3", {("n2", "n3")}, "slicer", {"average_size": 1})
    assert network.active_keys() == ["f1", "f2", "f3"]

    healed = network.heal()

    assert sorted(healed) == ["f1", "f2", "f3"]
    assert driver.disabled == set()
    assert network.cut_links() == frozenset()
    assert network.active_keys() == []
    baseline = {key for key in driver.toxics if key[1].startswith(f"{BASELINE}_")}
    assert len(baseline) == len(network.links) == 12
    assert set(driver.toxics) == baseline


def test_heal_with_nothing_to_heal(network: Network, driver: RecordingDriver) -> None:
    network.set_latency(BASELINE, {("n1", "n2")}, 0.005)
    assert network.heal() == []
    assert [c[0] for c in driver.calls] == ["add_toxic"]


def test_network_links_are_the_proxies(network: Network) -> None:
    assert len(network.links) == 12
    assert ("n1", "n2") in network.links and ("n1", "n1") not in network.links


def test_cutting_a_link_twice_under_one_key_is_undone_by_one_revert(
        network: Network, driver: RecordingDriver) -> None:
    network.cut("k", [("n1", "n2")])
    network.cut("k", [("n1", "n2")])
    network.revert("k")
    assert network.cut_links() == frozenset()
    assert driver.calls == [("set_enabled", "n1_n2", False), ("set_enabled", "n1_n2", True)]


def test_a_node_that_is_gone_has_the_links_into_it_cut_until_it_is_back(
        network: Network, driver: RecordingDriver) -> None:
    network.node_gone("n2")
    assert driver.disabled == {"n1_n2", "n3_n2", "n4_n2"}  # into n2; n2's own are moot
    assert network.active_keys() == []  # no fault: nothing for a heal or a report

    network.cut("f1", both_ways("n1", "n2"))
    assert network.heal() == ["f1"]
    assert driver.disabled == {"n1_n2", "n3_n2", "n4_n2"}  # a heal does not bring it up

    network.cut("f2", both_ways("n2", "n3"))
    network.node_back("n2")
    assert driver.disabled == {"n2_n3", "n3_n2"}  # the fault's cut outlives the outage
    network.revert("f2")
    assert driver.disabled == set()


# --- a large cluster: calls side by side -------------------------------------------------

MANY = tuple(f"n{i}" for i in range(1, 9))  # 56 links: more than are made one by one


class SlowDriver(RecordingDriver):
    """Takes a while over each call, as a server does, and counts how many it has at once;
    refuses to enable the proxies in ``broken``."""

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.broken = broken
        self.lock = threading.Lock()
        self.now = self.most = 0

    def _busy(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.005)
        with self.lock:
            self.now -= 1

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._busy()
        if enabled and name in self.broken:
            raise HarnessError(f"Toxiproxy refused POST /proxies/{name}")
        with self.lock:
            super().set_enabled(name, enabled)

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: dict[str, Any],
                  stream: str = "upstream", toxicity: float = 1.0) -> None:
        self._busy()
        with self.lock:
            super().add_toxic(proxy, name, toxic_type, attributes, stream, toxicity)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._busy()
        with self.lock:
            super().remove_toxic(proxy, name)


def many_links(driver: RecordingDriver) -> Network:
    return Network(driver, {(a, b): proxy((a, b))  # type: ignore[arg-type]
                            for a in MANY for b in MANY if a != b})


def test_a_large_cut_is_made_side_by_side_and_undone_whole() -> None:
    driver = SlowDriver()
    network = many_links(driver)
    cut = partition_links([MANY[:4]], MANY)
    network.cut("p", cut)
    assert driver.disabled == {proxy(link) for link in cut}
    assert driver.most > 1  # calls overlapped
    network.revert("p")
    assert driver.disabled == set() and network.cut_links() == frozenset()


def test_toxics_on_many_links_two_on_each_are_all_removed_by_revert() -> None:
    driver = SlowDriver()
    network = many_links(driver)
    network.set_latency("slow", network.links, 0.1)
    network.set_latency("slow", network.links, 0.2)
    assert len(driver.toxics) == 2 * len(network.links)
    # Each proxy's two toxics were added, and are removed, in order.
    for link in network.links:
        names = [c[2] for c in driver.calls if c[0] == "add_toxic" and c[1] == proxy(link)]
        assert names == ["slow_latency_0", f"slow_latency_{len(network.links)}"]
    network.revert("slow")
    assert driver.toxics == {}


def test_a_refused_call_among_many_is_raised_once_the_others_are_made() -> None:
    cut = partition_links([MANY[:4]], MANY)
    broken = proxy(sorted(cut)[3])
    driver = SlowDriver(broken=frozenset({broken}))
    network = many_links(driver)
    network.cut("p", cut)
    with pytest.raises(HarnessError, match=f"refused POST /proxies/{broken}"):
        network.revert("p")
    assert driver.disabled == {broken}  # every other link was enabled again
