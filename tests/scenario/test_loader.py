"""Scenario files → frozen typed model, and every way a scenario can be wrong."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.checkers.msgs_per_op import MsgsPerOpOptions
from pytest_dchaos.errors import DchaosError, ScenarioError
from pytest_dchaos.families.gossip.checks.convergence import ConvergenceOptions
from pytest_dchaos.families.gossip.checks.failure_detection import FailureDetectionOptions
from pytest_dchaos.families.maelstrom.family import Echo
from pytest_dchaos.faults.network import LatencyOptions, PartitionOptions
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.registry import Registry, plugin_manager
from pytest_dchaos.scenario import (
    CheckSpec,
    ClusterSpec,
    FaultSpec,
    Implementation,
    LinkLatency,
    NetworkSpec,
    Scenario,
    WorkloadSpec,
    load_scenario,
    parse_scenario,
)
from tests.builders import registry, scenario

SHORT_RUN = "name: r\nprotocol: gossip\ncluster: {nodes: 3}\nworkload: {duration: 10s}\n"
HEAD = """\
name: demo
protocol: gossip
cluster: {nodes: 3}
"""  # faults and checks written after HEAD start on line 4


def error_of(text: str, path: str = "scenario.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario(text, path)
    return info.value


FULL = """\
    name: full
    description: every section at once
    protocol: gossip
    cluster:
      nodes: 5
      implementation: {command: "./bin/node --fast 'two words'"}
      params: {fanout: 3}
      topology: ring
      start_timeout: 2s
    network:
      latency: 10ms
      jitter: 2ms
      links:
        - {links: [n1->n2, n3<->n4], latency: 50ms, jitter: 5ms}
        - {links: {from: [n5], to: [n1, n2]}, latency: 1s}
    workload: {clients: 3, rate: 30/m, duration: 20s, recovery: 5s, timeout: 500ms,
               read_ratio: 0.25}
    faults:
      - {at: 2s, partition: {groups: [[n1, n2], [n3]]}, duration: 1s}
      - {at: {between: [3s, 6s]}, one_of: [{kill: random}, {pause: [n1, n2]}],
         duration: 500ms}
      - {at: 1s, every: 4s, times: 3, latency: {latency: 100ms, jitter: 10ms, links: [n1->n2]}}
      - {at: 1s, every: 5s, until: 15s, heal: network}
    checks:
      - convergence: {within: 5s}
      - no_invented_values
      - msgs_per_op: 30
    seed: 7
    """


@pytest.fixture(scope="module")
def full() -> Scenario:
    return scenario(FULL, "/work/scenarios/mine/full.yaml")


def test_full_scenario_top_level(full: Scenario) -> None:
    assert full.name == "full"
    assert full.description == "every section at once"
    assert full.protocol == "gossip"
    assert full.seed == 7
    assert full.path == "/work/scenarios/mine/full.yaml"
    assert full.node_ids == ("n1", "n2", "n3", "n4", "n5")


def test_full_scenario_cluster(full: Scenario) -> None:
    cluster = full.cluster
    assert isinstance(cluster, ClusterSpec)
    assert cluster.nodes == 5
    assert cluster.topology == "ring"
    assert cluster.start_timeout == 2.0
    assert dict(cluster.params) == {"fanout": 3}
    assert isinstance(cluster.params, MappingProxyType)
    assert cluster.implementation == Implementation(
        command=("/work/scenarios/mine/bin/node", "--fast", "two words"))
    assert not cluster.implementation.is_reference


def test_full_scenario_network_and_per_link_latency(full: Scenario) -> None:
    assert full.network == NetworkSpec(
        latency=pytest.approx(0.01), jitter=pytest.approx(0.002),
        links=(
            LinkLatency(frozenset({("n1", "n2"), ("n3", "n4"), ("n4", "n3")}),
                        pytest.approx(0.05), pytest.approx(0.005)),
            LinkLatency(frozenset({("n5", "n1"), ("n5", "n2")}), 1.0, 0.0),
        ),
    )


def test_full_scenario_workload_in_seconds_and_per_second(full: Scenario) -> None:
    workload = full.workload
    assert isinstance(workload, WorkloadSpec)
    assert workload.clients == 3
    assert workload.rate == pytest.approx(0.5)
    assert (workload.duration, workload.recovery, workload.timeout) == (20.0, 5.0, 0.5)
    assert dict(workload.options) == {"read_ratio": 0.25, "membership_interval": 0.25}


def test_full_scenario_faults_are_typed_specs(full: Scenario) -> None:
    partition, one_of, latency, heal = full.faults
    assert all(isinstance(f, FaultSpec) for f in full.faults)

    assert (partition.kind, partition.at, partition.duration, partition.line) == (
        "partition", 2.0, 1.0, 19)
    assert partition.options == PartitionOptions(groups=(("n1", "n2"), ("n3",)))

    assert one_of.kind == "one_of" and one_of.options is None
    assert one_of.at == (3.0, 6.0)
    assert one_of.duration == 0.5
    assert one_of.choices == (("kill", ("random",)), ("pause", ("n1", "n2")))
    assert one_of.line == 20

    assert (latency.kind, latency.at, latency.every, latency.times, latency.until) == (
        "latency", 1.0, 4.0, 3, None)
    assert latency.options == LatencyOptions(pytest.approx(0.1), pytest.approx(0.01),
                                             frozenset({("n1", "n2")}))

    assert (heal.kind, heal.options, heal.every, heal.until, heal.times) == (
        "heal", "network", 5.0, 15.0, None)


def test_full_scenario_checks_are_typed_specs(full: Scenario) -> None:
    assert [c.name for c in full.checks] == ["convergence", "no_invented_values",
                                             "msgs_per_op"]
    assert all(isinstance(c, CheckSpec) for c in full.checks)
    assert [c.line for c in full.checks] == [25, 26, 27]
    assert full.checks[0].options == ConvergenceOptions(within=5.0, spread=2.0)
    assert full.checks[2].options == MsgsPerOpOptions(max=30.0, of="servers")


def test_scenario_model_is_frozen(full: Scenario) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.faults[0].at = 9.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        full.cluster.params["fanout"] = 9  # type: ignore[index]
    assert isinstance(full.faults, tuple) and isinstance(full.checks, tuple)


def test_minimal_scenario_gets_defaults_and_the_family_checks() -> None:
    sc = scenario(HEAD)
    assert sc.cluster == ClusterSpec(nodes=3)
    assert sc.cluster.implementation.is_reference
    assert sc.network == NetworkSpec()
    assert (sc.workload.clients, sc.workload.rate, sc.workload.duration) == (1, 10.0, 10.0)
    assert sc.faults == ()
    assert [c.name for c in sc.checks] == ["convergence", "no_invented_values"]
    assert sc.seed is None and sc.description == ""


def test_empty_lists_mean_no_faults_and_no_checks() -> None:
    sc = scenario(HEAD + "faults: []\nchecks: []\n")
    assert sc.faults == () and sc.checks == ()


def test_load_scenario_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "seed: 3\n", encoding="utf-8")
    sc = load_scenario(path, registry())
    assert (sc.seed, sc.path) == (3, str(path))


def test_load_scenario_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "cluster: {nodes: 4}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, registry())
    assert str(info.value).startswith(f"{path}:4: key 'cluster' appears twice")


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "dump.yaml"
    with open(path, "wb") as out:  # 8 MiB, the size a user once pointed dchaos at
        out.write((HEAD + "values:\n").encode())
        out.write(b"  - 1\n" * (8 * 1024 * 1024 // 6))
    size = path.stat().st_size
    started = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, registry())
    assert time.monotonic() - started < 1
    assert str(info.value).startswith(f"{path}: the file is 8.0 MiB ({size} bytes), more "
                                      "than the 1 MiB a scenario file may be")


def test_load_scenario_missing_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("/nonexistent/s.yaml", registry())
    assert str(info.value) == ("/nonexistent/s.yaml: no such scenario file "
                               "(check the path and the working folder)")


# --- implementation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("implementation", "command"),
    [
        ("{command: [./node, --x, 1, 2.5]}", ("/a/b/node", "--x", "1", "2.5")),
        ("{command: './node --x \"a b\"'}", ("/a/b/node", "--x", "a b")),
        ("{command: ../n/node}", ("/a/n/node",)),
        ("{command: node --x}", ("node", "--x")),
        ("{command: [python3, -m, mynode]}", ("python3", "-m", "mynode")),
        ("{command: /usr/bin/node}", ("/usr/bin/node",)),
    ],
)
def test_command_string_or_list_relative_to_the_scenario_folder(implementation: str,
                                                                 command: tuple[str, ...]) -> None:
    sc = scenario(f"name: x\nprotocol: gossip\ncluster: {{nodes: 3, implementation: "
                  f"{implementation}}}\n", "/a/b/s.yaml")
    assert sc.cluster.implementation.command == command


def test_relative_path_of_the_scenario_is_made_absolute() -> None:
    sc = scenario("name: x\nprotocol: gossip\ncluster: {nodes: 3, implementation: "
                  "{command: ./node}}\n", "rel/s.yaml")
    assert sc.cluster.implementation.command == (os.path.abspath("rel/node"),)


def test_image_and_command() -> None:
    sc = scenario("name: x\nprotocol: gossip\ncluster: {nodes: 3, implementation: "
                  "{image: 'me/node:1', command: [run]}}\n")
    assert sc.cluster.implementation == Implementation(command=("run",), image="me/node:1")
    assert sc.cluster.implementation.describe() == "image me/node:1, run"


def test_reference_implementation_by_name() -> None:
    sc = scenario("name: x\nprotocol: gossip\ncluster: {nodes: 3, implementation: reference}\n")
    assert sc.cluster.implementation.is_reference


@pytest.mark.parametrize(
    ("implementation", "message"),
    [
        ("mynode", "cluster.implementation: 'mynode' is not an implementation (write "
                   "'reference', or {command: ./my-node} for your own node)"),
        ("{}", "cluster.implementation: needs command or image"),
        ("{command: ''}", "cluster.implementation.command: the command is empty"),
        ("{command: \"'oops\"}",
         "cluster.implementation.command: cannot split the command: No closing quotation"),
        ("{command: {a: 1}}",
         "cluster.implementation.command: expected a command: a string or a list of words"),
        ("{comand: x}", "cluster.implementation.comand: unknown key 'comand' "
                        "(did you mean 'command'?)"),
        ("[a]", "cluster.implementation: expected 'reference' or a mapping with command/image"),
    ],
)
def test_bad_implementation(implementation: str, message: str) -> None:
    error = error_of(f"name: x\nprotocol: gossip\ncluster: {{nodes: 3, implementation: "
                     f"{implementation}}}\n")
    assert str(error) == f"scenario.yaml:3: {message}"
    assert error.line == 3


# --- top level and sections ---------------------------------------------------------------


@pytest.mark.parametrize("missing", ["name", "protocol", "cluster"])
def test_missing_required_section(missing: str) -> None:
    sections = {"name": "name: x", "protocol": "protocol: gossip",
                "cluster": "cluster: {nodes: 3}"}
    text = "\n".join(v for k, v in sections.items() if k != missing) + "\n"
    error = error_of(text)
    assert error.line == 1
    assert str(error) == f"scenario.yaml:1: missing required section {missing!r}"


def test_unknown_top_level_key_suggests_the_section() -> None:
    error = error_of("name: x\nprotocl: gossip\ncluster: {nodes: 3}\n")
    assert (error.line, error.field) == (2, "protocl")
    assert str(error) == ("scenario.yaml:2: protocl: unknown key 'protocl' "
                          "(did you mean 'protocol'?)")


def test_unknown_top_level_key_without_a_close_match_lists_the_sections() -> None:
    error = error_of(HEAD + "zzz: 1\n")
    assert error.line == 4
    assert "allowed keys: name, description, protocol, cluster, network, workload, faults, " \
           "checks, seed" in str(error)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "null\n"])
def test_scenario_must_be_a_mapping(text: str) -> None:
    error = error_of(text)
    assert error.line == 1
    assert "a scenario is a mapping of sections" in str(error)


def test_unknown_protocol_suggests_a_close_one() -> None:
    error = error_of("name: x\nprotocol: gosip\ncluster: {nodes: 3}\n")
    assert (error.line, error.field) == (2, "protocol")
    assert str(error) == ("scenario.yaml:2: protocol: unknown protocol 'gosip' "
                          "(did you mean 'gossip'?)")


def test_design_protocol_not_installed_says_so() -> None:
    # A family of the design whose plugin is not installed (here: removed from a registry).
    without = Registry()  # its own: the shared one must keep every family
    del without.protocols["pbft"]
    with pytest.raises(ScenarioError) as info:
        parse_scenario("name: x\nprotocol: pbft\ncluster: {nodes: 4}\n", "scenario.yaml",
                       without)
    assert "protocol 'pbft' is not installed in this version of pytest-dchaos" in str(info.value)
    assert ("installed: echo, g-counter, gossip, lin-kv, pn-counter, txn, txn-rw-register, "
            "unique-ids, vector_clock" in str(info.value))


def test_a_maelstrom_workload_name_is_an_alias_of_the_family_that_covers_it() -> None:
    scenario = parse_scenario("name: x\nprotocol: broadcast\ncluster: {nodes: 3}\n",
                              "scenario.yaml", Registry())
    assert scenario.protocol == "gossip"  # checks, report and runner see the family's name


def test_txn_rw_register_is_a_family_of_its_own_sharing_the_txn_clients_and_isolation(
        ) -> None:
    # Maelstrom's transactions are totally available and judged at a model; the txn
    # family's are 2PC/3PC, judged for atomicity and blocking. Same messages, own family.
    scenario = parse_scenario("name: x\nprotocol: txn-rw-register\ncluster: {nodes: 2}\n"
                              "checks: [{isolation: {model: read-committed}}]\n",
                              "scenario.yaml", Registry())
    assert scenario.protocol == "txn-rw-register"
    with pytest.raises(ScenarioError, match="atomicity"):
        parse_scenario("name: x\nprotocol: txn-rw-register\ncluster: {nodes: 2}\n"
                       "checks: [atomicity]\n", "scenario.yaml", Registry())


def test_an_alias_that_is_another_familys_name_is_refused() -> None:
    class Impostor(Echo):
        name = "impostor"
        aliases = ("gossip",)

    class Plugin:
        @hookimpl
        def dchaos_add_protocols(self) -> list[Any]:
            return [Impostor()]

    manager = plugin_manager()
    plugin = Plugin()
    manager.register(plugin)
    try:
        with pytest.raises(DchaosError, match="'gossip' is claimed twice: as an alias of impostor"):
            Registry(manager)
    finally:
        manager.unregister(plugin)


def test_wrong_type_for_name() -> None:
    error = error_of("name: 5\nprotocol: gossip\ncluster: {nodes: 3}\n")
    assert str(error) == "scenario.yaml:1: name: expected text, got 5"


@pytest.mark.parametrize(
    ("cluster", "field", "message"),
    [
        ("{nodez: 3}", "cluster.nodez", "unknown key 'nodez' (did you mean 'nodes'?)"),
        ("{}", "cluster", "missing required key 'nodes'"),
        ("{nodes: 0}", "cluster.nodes", "must be at least 1, got 0"),
        ("{nodes: 201}", "cluster.nodes", "must be at most 200, got 201"),
        ("{nodes: true}", "cluster.nodes", "expected a whole number, got True"),
        ("{nodes: '3'}", "cluster.nodes", "expected a whole number, got '3'"),
        ("3", "cluster", "expected a mapping like {nodes: 5}"),
        ("{nodes: 3, topology: rign}", "cluster.topology",
         "topology 'rign' is not known for protocol gossip (did you mean 'ring'?)"),
        ("{nodes: 3, start_timeout: 10}", "cluster.start_timeout",
         "10 has no unit; write it as 10ms or 10s"),
        ("{nodes: 3, params: [1]}", "cluster.params", "expected a mapping, got a list"),
    ],
)
def test_bad_cluster(cluster: str, field: str, message: str) -> None:
    error = error_of(f"name: x\nprotocol: gossip\ncluster: {cluster}\n")
    assert (error.line, error.field) == (3, field)
    assert f"scenario.yaml:3: {field}: {message}" in str(error)


def test_missing_cluster_key_hint_says_what_the_key_is() -> None:
    error = error_of("name: x\nprotocol: gossip\ncluster: {}\n")
    assert error.hint == "nodes: integer (1..200) — how many nodes (ids n1..nN)"


@pytest.mark.parametrize(
    ("workload", "field", "message"),
    [
        ("{reed_ratio: 0.3}", "workload.reed_ratio",
         "unknown key 'reed_ratio' (did you mean 'read_ratio'?)"),
        ("{rate: 100}", "workload.rate", "100 has no unit; write it as 100/s"),
        ("{rate: 0/s}", "workload.rate", "a rate must be above zero"),
        ("{duration: 20}", "workload.duration", "20 has no unit; write it as 20ms or 20s"),
        ("{clients: 0}", "workload.clients", "must be at least 1, got 0"),
        ("{read_ratio: 1.5}", "workload.read_ratio", "must be at most 1.0, got 1.5"),
        ("[1]", "workload", "expected a mapping like {clients: 4, rate: 50/s, duration: 20s}"),
    ],
)
def test_bad_workload(workload: str, field: str, message: str) -> None:
    error = error_of(HEAD + f"workload: {workload}\n")
    assert (error.line, error.field) == (4, field)
    assert f"{field}: {message}" in str(error)


@pytest.mark.parametrize(
    ("network", "field", "message"),
    [
        ("{latency: 100}", "network.latency", "100 has no unit; write it as 100ms or 100s"),
        ("{latency: -5ms}", "network.latency", "expected a duration"),
        ("{latency: true}", "network.latency", "expected a duration"),
        ("{latency: 5ms, jitter: 10ms}", "network.jitter",
         "jitter cannot exceed latency (a message cannot arrive before it was sent)"),
        ("{latncy: 5ms}", "network.latncy", "unknown key 'latncy' (did you mean 'latency'?)"),
        ("{links: [{links: [n1-n2], latency: 1ms}]}", "network.links[0].links[0]",
         "expected a link like n1->n2 or n1<->n2, got 'n1-n2'"),
        ("{links: [{links: [n1->n1], latency: 1ms}]}", "network.links[0].links[0]",
         "a link joins two different nodes"),
        ("{links: [{links: [n1->n9], latency: 1ms}]}", "network.links[0].links[0]",
         "'n9' is not a node of this cluster (n1..n3)"),
        ("{links: [{links: {from: n1, too: n2}, latency: 1ms}]}", "network.links[0].links.too",
         "unknown key 'too' (did you mean 'to'?)"),
        ("{links: [{links: all}]}", "network.links[0]", "missing required key 'latency'"),
        ("5ms", "network", "expected a mapping like {latency: 10ms}"),
    ],
)
def test_bad_network(network: str, field: str, message: str) -> None:
    error = error_of(HEAD + f"network: {network}\n")
    assert (error.line, error.field) == (4, field)
    assert f"{field}: {message}" in str(error)


def test_links_all_and_one_way_forms() -> None:
    sc = scenario(HEAD + "network:\n  links:\n    - {links: all, latency: 1ms}\n"
                  "    - {links: n2->n3, latency: 2ms}\n"
                  "    - {links: {to: n1}, latency: 3ms}\n")
    every, one, into = sc.network.links
    assert every.links == frozenset(
        (a, b) for a in ("n1", "n2", "n3") for b in ("n1", "n2", "n3") if a != b)
    assert one.links == frozenset({("n2", "n3")})
    assert into.links == frozenset({("n2", "n1"), ("n3", "n1")})


def test_seed_must_be_a_non_negative_integer() -> None:
    error = error_of(HEAD + "seed: -1\n")
    assert (error.line, error.field) == (4, "seed")
    assert "must be at least 0, got -1" in str(error)


# --- faults -------------------------------------------------------------------------------


def test_unknown_fault_suggests_a_close_one() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, kill: n1}\n  - {at: 2s, kil: n1}\n")
    assert (error.line, error.field) == (6, "faults[1].kil")
    assert str(error) == ("scenario.yaml:6: faults[1].kil: unknown fault 'kil' "
                          "(did you mean 'kill'?)")


def test_unknown_fault_next_to_timing_keys() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, every: 2s, partiton: halves}\n")
    assert (error.line, error.field) == (5, "faults[0].partiton")
    assert "(did you mean 'partition'?)" in str(error)


def test_misspelt_timing_key_is_reported_on_its_own_line() -> None:
    error = error_of(HEAD + "faults:\n  - at: 1s\n    kill: n1\n    evry: 2s\n")
    assert (error.line, error.field) == (7, "faults[0].evry")
    assert "unknown fault or key 'evry' (did you mean 'every'?)" in str(error)


def test_two_faults_in_one_entry() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, kill: n1, pause: n2}\n")
    assert (error.line, error.field) == (5, "faults[0]")
    assert "one entry holds one fault, found kill, pause" in str(error)


def test_entry_without_a_fault() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s}\n")
    assert (error.line, error.field) == (5, "faults[0]")
    assert "names no fault" in str(error)


def test_fault_without_at() -> None:
    error = error_of(HEAD + "faults:\n  - {kill: n1}\n")
    assert (error.line, error.field) == (5, "faults[0]")
    assert "needs 'at': when the fault starts" in str(error)


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("{at: 1s, kill: n4}", "faults[0].kill",
         "'n4' is not a node of this cluster (n1..n3 or random)"),
        ("{at: 1s, pause: [n1, n7]}", "faults[0].pause[1]",
         "'n7' is not a node of this cluster (n1..n3 or random)"),
        ("{at: 1s, partition: {isolate: x1}}", "faults[0].partition.isolate",
         "'x1' is not a node of this cluster"),
        ("{at: 1s, one_of: [{kill: n5}]}", "faults[0].one_of[0].kill",
         "'n5' is not a node of this cluster"),
    ],
)
def test_node_ids_outside_the_cluster(entry: str, field: str, message: str) -> None:
    error = error_of(HEAD + f"faults:\n  - {entry}\n")
    assert (error.line, error.field) == (5, field)
    assert f"{field}: {message}" in str(error)


def test_node_outside_the_cluster_in_partition_groups_has_the_full_path() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, kill: n1}\n"
                     "  - {at: 2s, partition: {groups: [[n1], [n9]]}}\n")
    assert (error.line, error.field) == (6, "faults[1].partition.groups[1][0]")
    assert str(error).startswith("scenario.yaml:6: faults[1].partition.groups[1][0]: 'n9' "
                                 "is not a node of this cluster")


def test_close_node_id_is_suggested() -> None:
    error = error_of("name: x\nprotocol: gossip\ncluster: {nodes: 12}\n"
                     "faults:\n  - {at: 1s, kill: n13}\n")
    assert "did you mean" in (error.hint or "")


def test_node_in_two_partition_groups_is_refused_at_its_line() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, kill: n1}\n"
                     "  - {at: 2s, partition: {groups: [[n1], [n1, n2]]}}\n")
    assert error.line == 6
    assert "n1 is in two groups" in str(error)


def test_partition_with_two_forms_is_refused() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, partition: {isolate: n1, groups: [[n1]]}}\n")
    assert error.line == 5
    assert "write exactly one form of partition, found groups, isolate" in str(error)


def test_one_way_partition_needs_both_ends() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, partition: {from: n1}}\n")
    assert error.line == 5
    assert "a one-way partition needs both 'from' and 'to'" in str(error)


def test_unknown_partition_mode_suggests_one() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, partition: majorty}\n")
    assert (error.line, error.field) == (5, "faults[0].partition")
    assert "'majorty' is not one of majority_minority, halves, bridge" in str(error)


def test_fault_jitter_above_latency_is_refused() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, latency: {latency: 5ms, jitter: 10ms}}\n")
    assert error.line == 5
    assert "jitter cannot exceed latency" in str(error)


def test_one_of_choice_must_be_one_fault() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, one_of: [{kill: n1, pause: n2}]}\n")
    assert (error.line, error.field) == (5, "faults[0].one_of[0]")
    assert "each choice is one fault" in str(error)


def test_one_of_unknown_choice_suggests() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, one_of: [{kil: n1}]}\n")
    assert error.field == "faults[0].one_of[0].kil"
    assert "unknown fault 'kil' (did you mean 'kill'?)" in str(error)


@pytest.mark.parametrize("one_of", ["[]", "kill"])
def test_one_of_needs_a_list(one_of: str) -> None:
    error = error_of(HEAD + f"faults:\n  - {{at: 1s, one_of: {one_of}}}\n")
    assert error.field == "faults[0].one_of"
    assert "expected a list of faults to choose from" in str(error)


def test_faults_must_be_a_list() -> None:
    error = error_of(HEAD + "faults: {at: 1s, kill: n1}\n")
    assert (error.line, error.field) == (4, "faults")


@pytest.mark.parametrize(
    ("entry", "line", "start", "lasts"),
    [
        ("{at: 10s, kill: n1}", 5, "10s", "10s"),
        ("{at: 12.5s, kill: n1}", 5, "12.5s", "10s"),
        ("{at: {between: [11s, 15s]}, kill: n1}", 5, "11s", "10s"),
    ],
)
def test_fault_after_the_workload_ends(entry: str, line: int, start: str,
                                       lasts: str) -> None:
    error = error_of(HEAD + f"faults:\n  - {entry}\n")
    assert error.line == line
    assert (f"fault starts at {start}, but the workload lasts {lasts} and faults only run "
            "during it") in str(error)
    assert "lengthen workload.duration" in str(error)


def test_fault_inside_a_longer_workload_is_fine() -> None:
    sc = scenario(HEAD + "workload: {duration: 30s}\nfaults:\n  - {at: 25s, kill: n1}\n")
    assert sc.faults[0].at == 25.0


def test_random_time_range() -> None:
    sc = scenario(HEAD + "faults:\n  - {at: {between: [2s, 2s]}, kill: random}\n")
    assert sc.faults[0].at == (2.0, 2.0)
    assert sc.faults[0].options == ("random",)


@pytest.mark.parametrize(
    ("at", "field", "message"),
    [
        ("{between: [5s, 2s]}", "faults[0].at.between", "the range is backwards"),
        ("{between: [1s]}", "faults[0].at.between", "needs at least 2 item(s)"),
        ("{betwen: [1s, 2s]}", "faults[0].at.betwen",
         "unknown key 'betwen' (did you mean 'between'?)"),
        ("5", "faults[0].at", "5 has no unit"),
    ],
)
def test_bad_at(at: str, field: str, message: str) -> None:
    error = error_of(HEAD + f"faults:\n  - {{at: {at}, kill: n1}}\n")
    assert (error.line, error.field) == (5, field)
    assert message in str(error)


@pytest.mark.parametrize("key", ["times: 3", "until: 5s"])
def test_times_or_until_without_every(key: str) -> None:
    name = key.split(":")[0]
    error = error_of(HEAD + f"faults:\n  - {{at: 1s, {key}, kill: n1}}\n")
    assert (error.line, error.field) == (5, f"faults[0].{name}")
    assert str(error) == (f"scenario.yaml:5: faults[0].{name}: '{name}' needs 'every' "
                          "(add every: 5s to repeat the fault)")


@pytest.mark.parametrize("duration", ["2s", "3s"])
def test_duration_not_below_every(duration: str) -> None:
    error = error_of(HEAD + f"faults:\n  - {{at: 1s, every: 2s, duration: {duration}, "
                     "pause: n1}\n")
    assert (error.line, error.field) == (5, "faults[0].duration")
    assert "a repeating fault must end before it fires again" in str(error)
    assert "make duration shorter than every (2.0s)" in str(error)


def test_every_must_be_above_zero() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, every: 0s, kill: n1}\n")
    assert (error.line, error.field) == (5, "faults[0].every")


def test_times_must_be_at_least_one() -> None:
    error = error_of(HEAD + "faults:\n  - {at: 1s, every: 2s, times: 0, kill: n1}\n")
    assert (error.line, error.field) == (5, "faults[0].times")


def test_timing_line_is_the_line_of_the_offending_key() -> None:
    error = error_of(HEAD + "faults:\n  - at: 1s\n    kill: n1\n    times: 2\n")
    assert error.line == 7


# --- checks -------------------------------------------------------------------------------


def test_unknown_check_suggests_a_close_one() -> None:
    error = error_of(HEAD + "checks:\n  - convergance\n")
    assert (error.line, error.field) == (5, "checks[0]")
    assert str(error) == ("scenario.yaml:5: checks[0]: unknown check 'convergance' "
                          "(did you mean 'convergence'?)")


def test_unknown_check_without_a_close_match_lists_this_protocols_checks() -> None:
    error = error_of(HEAD + "checks:\n  - zzzz\n")
    assert "checks for gossip:" in str(error)
    assert "convergence" in str(error) and "node_contract" in str(error)


@pytest.mark.parametrize("entry", ["convergence", "{convergence: 2s}"])
def test_check_listed_twice(entry: str) -> None:
    error = error_of(HEAD + f"checks:\n  - convergence\n  - {entry}\n")
    assert (error.line, error.field) == (6, "checks[1]")
    assert "check 'convergence' is listed twice" in str(error)


def test_check_that_does_not_apply_to_the_protocol() -> None:
    class PbftOnly(CheckerType[NoOptions]):
        name = "agreement"
        doc = "pbft only"
        protocols = ("pbft",)

        def check(self, options: NoOptions, record: RunRecord) -> Verdict:
            raise AssertionError("never called while loading")

    catalog = Registry()
    catalog.checkers = {**catalog.checkers, "agreement": PbftOnly()}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(HEAD + "checks:\n  - convergence\n  - agreement\n", "s.yaml", catalog)
    assert (info.value.line, info.value.field) == (6, "checks[1]")
    assert str(info.value) == ("s.yaml:6: checks[1]: check 'agreement' does not apply to "
                               "protocol gossip (it is for: pbft)")


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("{convergence: {whithin: 2s}}", "checks[0].convergence.whithin",
         "unknown key 'whithin' (did you mean 'within'?)"),
        ("{convergence: 2}", "checks[0].convergence", "2 has no unit"),
        ("{msgs_per_op: {max: -1}}", "checks[0].msgs_per_op.max", "must be at least 0"),
        ("{msgs_per_op: {max: 3, of: everything}}", "checks[0].msgs_per_op.of",
         "'everything' is not one of servers, clients, all"),
        ("{failure_detection: {nodes: [n7]}}", "checks[0].failure_detection.nodes[0]",
         "'n7' is not a node of this cluster (n1..n3)"),
        ("{failure_detection: {nodes: [random]}}", "checks[0].failure_detection.nodes[0]",
         "'random' is not a node of this cluster"),
        ("{convergence: 2s, latency: {p99: 1s}}", "checks[0]",
         "expected a check name, or {name: {options}}"),
        ("[convergence]", "checks[0]", "expected a check name, or {name: {options}}"),
    ],
)
def test_bad_check_options(entry: str, field: str, message: str) -> None:
    error = error_of(HEAD + f"checks:\n  - {entry}\n")
    assert (error.line, error.field) == (5, field)
    assert f"{field}: {message}" in str(error)


def test_latency_check_needs_a_bound() -> None:
    error = error_of(HEAD + "checks:\n  - latency: {f: broadcast}\n")
    assert error.line == 5
    assert "give at least one bound" in str(error)


def test_check_shorthand_and_mapping_forms_agree() -> None:
    short = scenario(HEAD + "checks:\n  - failure_detection: 2s\n")
    long = scenario(HEAD + "checks:\n  - failure_detection: {within: 2s}\n")
    assert short.checks[0].options == long.checks[0].options == FailureDetectionOptions(
        within=2.0, max_false_positives=0, nodes=None, startup=5.0)


def test_checks_must_be_a_list() -> None:
    error = error_of(HEAD + "checks: convergence\n")
    assert (error.line, error.field) == (4, "checks")


def test_a_check_can_expect_to_fail() -> None:
    from tests.builders import scenario

    parsed = scenario("name: x\nprotocol: gossip\ncluster: {nodes: 3}\n"
                      "checks:\n  - convergence: {within: 2s, expect: fail}\n"
                      "  - no_invented_values\n")
    first, second = parsed.checks
    assert (first.name, first.expect, first.options.within) == ("convergence", "fail", 2.0)
    assert second.expect == "pass"


def test_expect_takes_pass_or_fail_only() -> None:
    error = error_of("name: x\nprotocol: gossip\ncluster: {nodes: 3}\n"
                     "checks:\n  - convergence: {expect: maybe}\n")
    assert "checks[0].convergence.expect: expected pass or fail, got 'maybe'" in str(error)


def test_an_expected_failure_passes_only_when_the_check_fails() -> None:
    from pytest_dchaos.record.result import Verdict
    from pytest_dchaos.run.runner import expected
    from pytest_dchaos.scenario.model import CheckSpec

    spec = CheckSpec("atomicity", NoOptions(), 1, expect="fail")
    caught = expected(spec, Verdict("atomicity", "fail", "n1 committed, n2 aborted"))
    assert caught.passed and "caught the violation" in caught.detail
    missed = expected(spec, Verdict("atomicity", "pass", "all agree"))
    assert not missed.passed and "expected to catch a violation" in missed.detail


def test_twins_give_each_member_its_identity_and_its_side() -> None:
    cluster = scenario("name: x\nprotocol: pbft\n"
                       "cluster: {nodes: 4, twins: [{node: n1, sees: [n3, n4]}]}\n").cluster
    assert cluster.members == ("n1", "n2", "n3", "n4", "n1-twin")
    assert cluster.identity("n1-twin") == "n1" and cluster.identity("n3") == "n3"
    assert cluster.peers("n1") == {"n2": "n2"}
    assert cluster.peers("n1-twin") == {"n3": "n3", "n4": "n4"}
    assert cluster.peers("n2") == {"n1": "n1", "n3": "n3", "n4": "n4"}
    assert cluster.peers("n3") == {"n1": "n1-twin", "n2": "n2", "n4": "n4"}
    assert cluster.twins[0].reorder == 0.0 and cluster.client_holdback("n1-twin") == 0.0


def test_a_reordering_twin_holds_back_client_messages_to_the_twin_only() -> None:
    cluster = scenario("name: x\nprotocol: pbft\ncluster: {nodes: 4, twins: "
                       "[{node: n1, sees: [n3, n4], reorder: 50ms}]}\n").cluster
    assert cluster.twins[0].reorder == 0.05
    assert cluster.client_holdback("n1-twin") == 0.05
    assert all(cluster.client_holdback(n) == 0.0 for n in cluster.node_ids)


@pytest.mark.parametrize(("twins", "message"), [
    ("{node: n1}", "cluster.twins: expected a list like [{node: n1, sees: [n3, n4]}]"),
    ("[{node: n1, sees: [n1, n2]}]", "cluster.twins[0].sees: n1 cannot see itself"),
    ("[{node: n1, sees: [n2]}, {node: n1, sees: [n3]}]",
     "cluster.twins[1].node: n1 already has a twin"),
    ("[{node: n9, sees: [n2]}]", "cluster.twins[0].node: 'n9' is not a node of this cluster"),
    ("[{node: n1}]", "cluster.twins[0]: missing required key 'sees'"),
    ("[{node: n1, sees: [n2], reorder: 50}]", "cluster.twins[0].reorder: 50 has no unit"),
    ("[{node: n1, sees: [n2], reorder: -5ms}]", "cluster.twins[0].reorder: expected a duration"),
])
def test_bad_twins_are_refused_with_the_field(twins: str, message: str) -> None:
    error = error_of(f"name: x\nprotocol: pbft\ncluster: {{nodes: 4, twins: {twins}}}\n")
    assert message in str(error), str(error)


def test_twins_are_for_byzantine_fault_tolerant_protocols_only() -> None:
    error = error_of("name: x\nprotocol: gossip\n"
                     "cluster: {nodes: 4, twins: [{node: n1, sees: [n3]}]}\n")
    assert "cluster.twins: protocol gossip does not take twins" in str(error)


def test_a_colluding_equivocator_is_told_so_and_nobody_else_is() -> None:
    faults = scenario("""\
        name: x
        protocol: pbft
        cluster: {nodes: 4}
        faults:
          - {at: 1s, byzantine: {node: n2, behavior: equivocate, collude: true}}
          - {at: 1s, byzantine: {node: n1, behavior: equivocate}}
          - {at: 1s, byzantine: {node: n3, behavior: silent, collude: true}}
        """).faults
    assert [f.options.body() for f in faults] == [
        {"type": "dchaos_byzantine", "behavior": "equivocate", "collude": True},
        {"type": "dchaos_byzantine", "behavior": "equivocate"},
        {"type": "dchaos_byzantine", "behavior": "silent"}]
    assert "expected true or false" in str(error_of(
        "name: x\nprotocol: pbft\ncluster: {nodes: 4}\nfaults: [{at: 1s, byzantine: "
        "{node: n1, behavior: equivocate, collude: 1}}]\n"))


@pytest.mark.parametrize(("fault", "field"), [
    ("{at: 1s, partition: {groups: [[n1], [n1]]}}", "faults[0].partition.groups"),
    ("{at: 1s, latency: {latency: 1ms, jitter: 2ms}}", "faults[0].latency.jitter"),
    ("{at: 1s, message: {types: [x]}}", "faults[0].message"),
])
def test_build_errors_name_the_whole_field(fault: str, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(SHORT_RUN + f"faults:\n  - {fault}\n")
    assert info.value.field == field and info.value.line == 6


def test_check_build_errors_name_the_entry() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(SHORT_RUN + "checks:\n  - latency: {f: read}\n")
    assert info.value.field == "checks[0].latency"


def test_per_link_jitter_above_latency_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(SHORT_RUN + "network:\n  links:\n    - {links: all, latency: 5ms, jitter: 10ms}\n")
    assert info.value.field == "network.links[0].jitter" and info.value.line == 7


def test_between_takes_exactly_two_times() -> None:
    with pytest.raises(ScenarioError, match="exactly two times"):
        scenario(SHORT_RUN + "faults:\n  - {at: {between: [1s, 2s, 9s]}, kill: n1}\n")


def test_fault_after_the_workload_names_its_entry() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(SHORT_RUN + "faults:\n  - {at: 1s, kill: n1}\n  - {at: 20s, kill: n2}\n")
    assert info.value.field == "faults[1].at"


def test_an_expected_failure_that_was_not_judged_stays_unjudged() -> None:
    from pytest_dchaos.record.result import Verdict
    from pytest_dchaos.run.runner import expected
    from pytest_dchaos.scenario.model import CheckSpec

    spec = CheckSpec("atomicity", NoOptions(), 1, expect="fail")
    for status in ("not_applicable", "unknown"):
        verdict = Verdict("atomicity", status, "no state")  # type: ignore[arg-type]
        assert expected(spec, verdict) == verdict


def test_a_check_can_be_required() -> None:
    sc = scenario(HEAD + "checks:\n  - failure_detection: {within: 2s, required: true}\n"
                  "  - convergence\n")
    assert [(c.name, c.required) for c in sc.checks] == [("failure_detection", True),
                                                        ("convergence", False)]
    assert sc.checks[0].options.within == 2.0
    with pytest.raises(ScenarioError) as error:
        scenario(HEAD + "checks:\n  - rejoin: {required: yes please}\n")
    assert "checks[0].rejoin.required: expected true or false" in str(error.value)


def test_placement_gives_each_member_its_constraints_and_a_twin_its_originals() -> None:
    cluster = scenario("""\
        name: x
        protocol: pbft
        cluster:
          nodes: 4
          twins: [{node: n1, sees: [n3, n4]}]
          placement:
            - {nodes: [n1, n2], constraints: ["node.labels.zone==a"]}
            - {nodes: n1, constraints: "node.role != manager"}
        """).cluster
    assert cluster.constraints() == {
        "n1": ("node.labels.zone==a", "node.role != manager"),
        "n2": ("node.labels.zone==a",),
        "n1-twin": ("node.labels.zone==a", "node.role != manager"),
    }


@pytest.mark.parametrize(("placement", "message"), [
    ("{nodes: n1}", "cluster.placement: expected a list like [{nodes: [n1, n2], constraints"),
    ("[{nodes: n9, constraints: ['node.role==worker']}]",
     "cluster.placement[0].nodes: 'n9' is not a node of this cluster"),
    ("[{nodes: n1}]", "cluster.placement[0]: missing required key 'constraints'"),
    ("[{nodes: n1, constraints: ['node.role==worker', 'zone=a']}]",
     "cluster.placement[0].constraints: 'zone=a' is not a placement constraint"),
    ("[{nodes: n1, constraints: ['node.labels==a']}]",
     "cluster.placement[0].constraints: 'node.labels==a' is not a placement constraint"),
])
def test_bad_placement_is_refused_with_the_field(placement: str, message: str) -> None:
    error = error_of(f"name: x\nprotocol: gossip\ncluster: {{nodes: 3, placement: {placement}}}\n")
    assert message in str(error), str(error)
