"""Bugs found by reviewing the unit suite, each pinned by the input that showed it."""

from __future__ import annotations

import pytest

from pytest_dchaos import units
from pytest_dchaos.checkers.msgs_per_op import MsgsPerOp
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.families.gossip.checks.convergence import Convergence
from pytest_dchaos.run.nemesis import expand
from pytest_dchaos.scenario.yamlsource import load_yaml

from .builders import broadcast, check_options, history, read, record, registry, scenario

HEAD = "name: r\nprotocol: gossip\ncluster: {nodes: 3}\nworkload: {duration: 10s}\n"


def firing_options(fault: str, seed: int) -> object:
    (firing,) = expand(scenario(HEAD + f"faults:\n  - {fault}\n"), registry().faults, seed)
    return firing.options


def test_convergence_without_a_complete_round_is_judged_not_crashed() -> None:
    ops = history(broadcast(1, 0.0, 0.1), read([1], 1.0, 1.1))
    conv = {"healed_at": 2.0, "deadline": 12.0, "acknowledged": 1, "converged_at": None,
            "membership_settled_at": None, "live_nodes": ["n1", "n2"],
            "final_reads": {"n1": [1], "n2": [1]}, "unread": []}
    rec = record(ops, observations={"convergence": conv})
    assert Convergence().check(check_options("convergence"), rec).passed
    strict = Convergence().check(check_options("convergence: {within: 5s}"), rec)
    assert not strict.passed and "not within 5s" in strict.detail


def test_msgs_per_op_without_a_counted_trace_fails() -> None:
    rec = record(history(broadcast(1, 0.0, 0.1)), messages={})
    verdict = MsgsPerOp().check(check_options("msgs_per_op: 1"), rec)
    assert not verdict.passed and "not counted" in verdict.detail


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


@pytest.mark.parametrize(("fault", "field"), [
    ("{at: 1s, partition: {groups: [[n1], [n1]]}}", "faults[0].partition.groups"),
    ("{at: 1s, latency: {latency: 1ms, jitter: 2ms}}", "faults[0].latency.jitter"),
    ("{at: 1s, message: {types: [x]}}", "faults[0].message"),
])
def test_build_errors_name_the_whole_field(fault: str, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(HEAD + f"faults:\n  - {fault}\n")
    assert info.value.field == field and info.value.line == 6


def test_check_build_errors_name_the_entry() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(HEAD + "checks:\n  - latency: {f: read}\n")
    assert info.value.field == "checks[0].latency"


def test_per_link_jitter_above_latency_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(HEAD + "network:\n  links:\n    - {links: all, latency: 5ms, jitter: 10ms}\n")
    assert info.value.field == "network.links[0].jitter" and info.value.line == 7


def test_between_takes_exactly_two_times() -> None:
    with pytest.raises(ScenarioError, match="exactly two times"):
        scenario(HEAD + "faults:\n  - {at: {between: [1s, 2s, 9s]}, kill: n1}\n")


def test_merge_keys_are_overridden_by_explicit_keys() -> None:
    node = load_yaml("a:\n  - &f {at: 1s, kill: n1}\n  - {<<: *f, at: 2s}\n", "f.yaml")
    assert node.plain() == {"a": [{"at": "1s", "kill": "n1"}, {"at": "2s", "kill": "n1"}]}
    assert node.value["a"].value[1].key_lines["at"] == 3


def test_alias_bombs_are_refused_quickly() -> None:
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    with pytest.raises(ScenarioError, match="expands to more than"):
        load_yaml("\n".join(levels) + "\n", "bomb.yaml")


def test_fault_after_the_workload_names_its_entry() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(HEAD + "faults:\n  - {at: 1s, kill: n1}\n  - {at: 20s, kill: n2}\n")
    assert info.value.field == "faults[1].at"


@pytest.mark.parametrize("bad", ["-5/s", -5, float("nan"), float("inf")])
def test_rates_are_finite_and_not_negative(bad: object) -> None:
    with pytest.raises(units.UnitError):
        units.parse_rate(bad, default_unit="s")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_durations_are_finite(bad: float) -> None:
    with pytest.raises(units.UnitError):
        units.parse_duration(bad, default_unit="s")


def test_sizes_are_whole_bytes_and_durations_round_sensibly() -> None:
    with pytest.raises(units.UnitError):
        units.parse_size("0.5")
    assert units.format_duration(0.9996) == "1s"


class _Driver:
    def __init__(self) -> None:
        self.enabled: list[tuple[str, bool]] = []

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.enabled.append((name, enabled))


def test_cutting_a_link_twice_under_one_key_is_undone_by_one_revert() -> None:
    driver = _Driver()
    network = Network(driver, {("n1", "n2"): "p12"})  # type: ignore[arg-type]
    network.cut("k", [("n1", "n2")])
    network.cut("k", [("n1", "n2")])
    network.revert("k")
    assert network.cut_links() == frozenset()
    assert driver.enabled == [("p12", False), ("p12", True)]


def test_latency_check_options_are_read_only() -> None:
    options = check_options("latency: {p50: 1s}")
    with pytest.raises(TypeError):
        options["p50"] = 2.0  # type: ignore[index]
