"""The fault schedule: every repetition and random choice drawn from the seed."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from pytest_dchaos.cluster.network import partition_links
from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.faults.network import PartitionOptions
from pytest_dchaos.run.nemesis import Firing, Nemesis, expand
from tests.builders import registry, scenario

SHORT_RUN = "name: r\nprotocol: gossip\ncluster: {nodes: 3}\nworkload: {duration: 10s}\n"


def firing_options(fault: str, seed: int) -> object:
    (firing,) = expand(scenario(SHORT_RUN + f"faults:\n  - {fault}\n"), registry().faults, seed)
    return firing.options
RANDOM_FAULTS = """\
    name: chaos
    protocol: gossip
    cluster: {nodes: 5}
    workload: {duration: 30s}
    faults:
      - {at: {between: [1s, 5s]}, every: 5s,
         one_of: [{kill: random}, {pause: random}, {partition: majority_minority}]}
      - {at: {between: [0s, 2s]}, partition: halves}
      - {at: 0.7s, partition: bridge}
      - {at: 0.8s, partition: {isolate: random}}
      - {at: 0.9s, kill: [random, random]}
    """


def schedule(text: str, seed: int = 1) -> list[Firing]:
    return expand(scenario(text), registry().faults, seed)


def shape(firings: list[Firing]) -> list[tuple[Any, ...]]:
    return [(f.key, f.at, f.kind, f.options, f.duration, f.line) for f in firings]


def with_faults(faults: str, *, nodes: int = 5, duration: str = "20s") -> str:
    return (f"name: x\nprotocol: gossip\ncluster: {{nodes: {nodes}}}\n"
            f"workload: {{duration: {duration}}}\nfaults:\n{faults}")


# --- reproducibility ----------------------------------------------------------------------


def test_same_seed_same_schedule() -> None:
    assert shape(schedule(RANDOM_FAULTS, 42)) == shape(schedule(RANDOM_FAULTS, 42))


def test_same_seed_same_schedule_from_separately_loaded_scenarios() -> None:
    first = expand(scenario(RANDOM_FAULTS), registry().faults, 7)
    second = expand(scenario(RANDOM_FAULTS), registry().faults, 7)
    assert shape(first) == shape(second)


def test_different_seed_different_schedule() -> None:
    one, two = schedule(RANDOM_FAULTS, 1), schedule(RANDOM_FAULTS, 2)
    assert shape(one) != shape(two)
    # The random start times alone differ.
    assert {f.at for f in one if f.key == "f2"} != {f.at for f in two if f.key == "f2"}


def test_many_seeds_give_many_schedules() -> None:
    distinct = {tuple(map(repr, shape(schedule(RANDOM_FAULTS, seed)))) for seed in range(10)}
    assert len(distinct) == 10


def test_random_choices_vary_with_the_seed() -> None:
    kills = {schedule(with_faults("  - {at: 1s, kill: random}\n"), seed)[0].options
             for seed in range(30)}
    assert kills <= {(f"n{i}",) for i in range(1, 6)}
    assert len(kills) >= 3
    partitions = {schedule(with_faults("  - {at: 1s, partition: halves}\n"), seed)[0]
                  .options.groups for seed in range(10)}
    assert len(partitions) >= 3


def test_one_of_draws_each_alternative_over_the_repetitions() -> None:
    firings = schedule(with_faults(
        "  - {at: 1s, every: 1s, one_of: [{kill: n1}, {pause: n2}]}\n"), 3)
    assert len(firings) == 19
    kinds = [f.kind for f in firings]
    assert set(kinds) == {"kill", "pause"}
    for firing in firings:
        assert firing.options == (("n1",) if firing.kind == "kill" else ("n2",))
        assert firing.fault is registry().faults[firing.kind]


def test_random_time_is_inside_its_range() -> None:
    for seed in range(20):
        (firing,) = schedule(with_faults("  - {at: {between: [2s, 3s]}, kill: n1}\n"), seed)
        assert 2.0 <= firing.at <= 3.0


def test_random_nodes_in_one_list_are_distinct() -> None:
    for seed in range(20):
        (firing,) = schedule(with_faults("  - {at: 1s, kill: [random, random, random]}\n"),
                             seed)
        assert len(firing.options) == 3 == len(set(firing.options))
        assert set(firing.options) <= {f"n{i}" for i in range(1, 6)}


def test_more_random_nodes_than_the_cluster_has_gives_every_node_once() -> None:
    (firing,) = schedule(with_faults("  - {at: 1s, pause: [random, random, random, random]}\n",
                                     nodes=3))
    assert sorted(firing.options) == ["n1", "n2", "n3"]


# --- repetitions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timing", "times"),
    [
        ("every: 4s", [1.0, 5.0, 9.0, 13.0, 17.0]),  # stops before the workload ends (20s)
        ("every: 4s, times: 2", [1.0, 5.0]),
        ("every: 4s, times: 10", [1.0, 5.0, 9.0, 13.0, 17.0]),
        ("every: 4s, until: 9s", [1.0, 5.0, 9.0]),  # until is inclusive
        ("every: 4s, until: 12s", [1.0, 5.0, 9.0]),
        ("every: 4s, until: 100s", [1.0, 5.0, 9.0, 13.0, 17.0]),
        ("every: 19s", [1.0]),  # 20s is the end of the workload: never fires there
        ("every: 4s, times: 3, until: 6s", [1.0, 5.0]),
    ],
)
def test_repetitions(timing: str, times: list[float]) -> None:
    firings = schedule(with_faults(f"  - {{at: 1s, {timing}, kill: n1}}\n"))
    assert [f.at for f in firings] == pytest.approx(times)
    if len(times) > 1:
        assert [f.key for f in firings] == [f"f1.{i}" for i in range(1, len(times) + 1)]
    else:
        assert [f.key for f in firings] == ["f1"]


def test_repetition_carries_the_duration_and_line() -> None:
    firings = schedule(with_faults("  - {at: 1s, every: 5s, times: 3, duration: 2s, "
                                   "pause: n2}\n"))
    assert [(f.at, f.duration, f.line) for f in firings] == [(1.0, 2.0, 6), (6.0, 2.0, 6),
                                                              (11.0, 2.0, 6)]


def test_repetitions_of_a_random_start_keep_the_period() -> None:
    firings = schedule(with_faults("  - {at: {between: [1s, 2s]}, every: 3s, times: 4, "
                                   "kill: n1}\n"), 5)
    starts = [f.at for f in firings]
    assert 1.0 <= starts[0] <= 2.0
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([3.0] * 3)


def test_firings_are_sorted_by_time_then_key() -> None:
    firings = schedule(with_faults(
        "  - {at: 5s, kill: n1}\n"
        "  - {at: 1s, every: 3s, pause: n2, duration: 1s}\n"
        "  - {at: 5s, heal: all}\n"
        "  - {at: 0.5s, partition: {isolate: n3}}\n"))
    assert [f.at for f in firings] == sorted(f.at for f in firings)
    assert [f.key for f in firings][:4] == ["f4", "f2.1", "f2.2", "f1"]
    at_five = [f.key for f in firings if f.at == 5.0]
    assert at_five == sorted(at_five) == ["f1", "f3"]


def test_firing_describes_itself() -> None:
    (firing,) = schedule(with_faults("  - {at: 2s, kill: [n1, n2], duration: 3s}\n"))
    assert firing.description == "kill n1 n2"
    assert firing.describe_timing() == "   2.00s  kill n1 n2 for 3s"


# --- refused schedules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "kind"),
    [("{at: 1s, duration: 1s, restart: n1}", "restart"),
     ("{at: 1s, duration: 1s, heal: all}", "heal"),
     ("{at: 2s, duration: 1s, one_of: [{restart: n1}]}", "restart")],
)
def test_non_revertible_fault_with_duration_is_refused(entry: str, kind: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(with_faults(f"  - {{at: 0.5s, kill: n2}}\n  - {entry}\n"))
    assert info.value.line == 7
    assert info.value.field == "faults[1].duration"
    assert f"a {kind} cannot be undone, so it takes no duration" in str(info.value)
    assert "remove 'duration' from this entry" in str(info.value)


def test_revertible_faults_take_a_duration() -> None:
    firings = schedule(with_faults("  - {at: 1s, duration: 2s, kill: n1}\n"
                                   "  - {at: 1s, duration: 2s, pause: n2}\n"
                                   "  - {at: 1s, restart: n3}\n"))
    assert [(f.kind, f.duration) for f in firings] == [("kill", 2.0), ("pause", 2.0),
                                                        ("restart", None)]


# --- partitions ---------------------------------------------------------------------------


def partition_of(faults: str, seed: int = 1, nodes: int = 5) -> PartitionOptions:
    (firing,) = schedule(with_faults(faults, nodes=nodes), seed)
    assert firing.kind == "partition"
    return firing.options


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("nodes", "minority"), [(3, 1), (4, 2), (5, 2), (7, 3)])
def test_majority_minority_cuts_between_the_two_sides(seed: int, nodes: int,
                                                      minority: int) -> None:
    options = partition_of("  - {at: 1s, partition: majority_minority}\n", seed, nodes)
    ids = [f"n{i}" for i in range(1, nodes + 1)]
    small, large = options.groups
    assert (len(small), len(large)) == (minority, nodes - minority)
    assert sorted(small + large) == sorted(ids)
    assert options.links == partition_links(options.groups, ids)
    assert len(options.links) == 2 * len(small) * len(large)
    assert options.mode == "majority_minority"


@pytest.mark.parametrize("seed", range(8))
def test_halves(seed: int) -> None:
    options = partition_of("  - {at: 1s, partition: halves}\n", seed, nodes=4)
    assert [len(g) for g in options.groups] == [2, 2]
    assert options.links == partition_links(options.groups, [f"n{i}" for i in range(1, 5)])


@pytest.mark.parametrize("seed", range(8))
def test_bridge_keeps_one_node_linked_to_both_sides(seed: int) -> None:
    options = partition_of("  - {at: 1s, partition: bridge}\n", seed, nodes=5)
    left, (bridge,), right = options.groups
    assert sorted((*left, bridge, *right)) == [f"n{i}" for i in range(1, 6)]
    assert (len(left), len(right)) == (2, 2)
    assert options.links == partition_links([left, right], [*left, *right])
    assert all(bridge not in link for link in options.links)
    assert ((left[0], right[0]) in options.links) and ((right[0], left[0]) in options.links)


def test_isolate_random_cuts_one_node_from_all_others() -> None:
    for seed in range(8):
        options = partition_of("  - {at: 1s, partition: {isolate: random}}\n", seed)
        ((node,),) = options.groups
        others = [f"n{i}" for i in range(1, 6) if f"n{i}" != node]
        assert options.links == frozenset(
            {(node, o) for o in others} | {(o, node) for o in others})


def test_explicit_groups_put_unlisted_nodes_in_one_more_group() -> None:
    options = partition_of("  - {at: 1s, partition: {groups: [[n1, n2], [n3]]}}\n")
    assert options.groups == (("n1", "n2"), ("n3",))
    assert options.links == partition_links([["n1", "n2"], ["n3"], ["n4", "n5"]],
                                            [f"n{i}" for i in range(1, 6)])
    assert ("n4", "n5") not in options.links and ("n1", "n4") in options.links


def test_one_way_partition_cuts_only_from_to() -> None:
    options = partition_of("  - {at: 1s, partition: {from: [n1], to: [n2, n3]}}\n")
    assert options.links == frozenset({("n1", "n2"), ("n1", "n3")})
    assert options.one_way == (("n1",), ("n2", "n3"))


@pytest.mark.parametrize("seed", range(20))
def test_random_never_doubles_a_named_node(seed: int) -> None:
    assert len(firing_options("{at: 1s, kill: [random, n2]}", seed)) == 2
    isolated = firing_options("{at: 1s, partition: {isolate: [random, n2]}}", seed)
    assert len(isolated.groups) == 2
    one_way = firing_options("{at: 1s, partition: {from: random, to: random}}", seed)
    assert one_way.links and all(a != b for a, b in one_way.links)
    grouped = firing_options("{at: 1s, partition: {groups: [[random], [n1]]}}", seed)
    assert grouped.groups[0] != ("n1",)


def test_two_randoms_in_one_group_are_accepted() -> None:
    options = firing_options("{at: 1s, partition: {groups: [[random, random]]}}", 1)
    assert len(options.groups[0]) == 2


def test_a_check_no_node_can_feed_is_not_applicable_unless_required() -> None:
    from pytest_dchaos.families.gossip.checks.rejoin import Rejoin
    from pytest_dchaos.run.runner import unjudged
    from pytest_dchaos.scenario.model import CheckSpec

    loose = unjudged(CheckSpec("rejoin", None, 1), Rejoin(), ["members"])
    assert (loose.status, loose.passed, loose.evidence) == ("not_applicable", None, "reported")
    assert "no node offers members" in loose.detail
    strict = unjudged(CheckSpec("rejoin", None, 1, required=True), Rejoin(), ["members"])
    assert strict.status == "fail" and strict.detail.startswith("required, but no node")


# --- leader: resolved when the fault fires ------------------------------------------------


class RecordingCluster:
    """What the process and partition faults call, noted in order."""

    class Net:
        def __init__(self, calls: list[tuple[str, Any]]) -> None:
            self.calls = calls

        def cut(self, key: str, links: Any) -> None:
            self.calls.append(("cut", frozenset(links)))

        def revert(self, key: str) -> None:
            self.calls.append(("revert", key))

    class Plan:
        identity_ids = ("n1", "n2", "n3")

    node_ids = ("n1", "n2", "n3")
    plan = Plan()

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.network = self.Net(self.calls)
        self.holds: dict[tuple[str, str], set[str]] = {}

    def hold(self, node: str, how: str, key: str) -> bool:
        holders = self.holds.setdefault((node, how), set())
        first = not holders
        holders.add(key)
        return first

    def release(self, node: str, how: str, key: str) -> bool:
        holders = self.holds.setdefault((node, how), set())
        holders.discard(key)
        return not holders

    def held(self, node: str, how: str) -> bool:
        return bool(self.holds.get((node, how)))

    def kill(self, node: str) -> None:
        self.calls.append(("kill", node))

    def restart(self, node: str) -> None:
        self.calls.append(("restart", node))


PBFT_LEADER = """\
    name: x
    protocol: pbft
    cluster: {nodes: 3}
    workload: {duration: 10s}
    faults:
      - {at: 0s, kill: leader, duration: 50ms}
      - {at: 0.1s, partition: {isolate: leader}, duration: 50ms}
    """


def play(text: str, leaders: list[str | None]) -> tuple[RecordingCluster, Any]:
    cluster = RecordingCluster()
    answers = iter(leaders)
    began = time.monotonic()
    nemesis = Nemesis(cluster, schedule(text),  # type: ignore[arg-type]
                      lambda: time.monotonic() - began,
                      leader=lambda: next(answers))
    nemesis.start()
    nemesis._thread.join(5)
    return cluster, nemesis


def test_leader_is_the_node_leading_when_the_fault_fires() -> None:
    # Asked once per firing, at the moment it fires: the kill hits n2, the partition n3.
    cluster, nemesis = play(PBFT_LEADER, ["n2", "n3"])
    assert nemesis.error is None
    assert cluster.calls == [
        ("kill", "n2"), ("restart", "n2"),
        ("cut", partition_links([("n3",)], ("n1", "n2", "n3"))), ("revert", "f2")]
    starts = [e for e in nemesis.timeline if e.action == "start"]
    assert [e.nodes for e in starts] == [("n2",), ("n1", "n2", "n3")]
    assert "aimed at the leader: kill leader" in starts[0].description
    ends = [e for e in nemesis.timeline if e.action == "end"]
    assert [e.nodes for e in ends] == [("n2",), ("n1", "n2", "n3")]


def test_no_leader_means_no_target() -> None:
    cluster, nemesis = play(PBFT_LEADER, [None, None])
    assert nemesis.error is None
    assert cluster.calls == [("cut", frozenset()), ("revert", "f2")]
    start = next(e for e in nemesis.timeline if e.action == "start")
    assert start.nodes == () and "no node leads" in start.description


def test_leader_is_refused_where_the_family_names_none() -> None:
    with pytest.raises(ScenarioError, match="names no leading node"):
        schedule(with_faults("  - {at: 1s, kill: leader}\n"))


def test_leader_is_refused_where_the_fault_cannot_aim_at_it() -> None:
    text = PBFT_LEADER.replace("partition: {isolate: leader}", "partition: {groups: [[leader]]}")
    with pytest.raises(ScenarioError, match="not a node of this cluster"):
        schedule(text)


def test_leader_is_left_for_the_moment_the_fault_fires() -> None:
    kill, partition = schedule(PBFT_LEADER, 3)
    assert kill.options == ("leader",) and kill.description == "kill leader"
    assert partition.options.isolate == ("leader",) and not partition.options.links
