"""The schedule generator: seeded, inside the cluster and the workload, and every schedule
an ordinary scenario the real loader accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.schedule import (
    KINDS,
    SHAPES,
    ScheduleSpace,
    entry_seconds,
    fault_kind,
    generate,
    makes_traitor,
    seconds_text,
    traitors,
)
from pytest_dchaos.families.pbft.family import scheduled_byzantine
from pytest_dchaos.run.nemesis import expand
from pytest_dchaos.scenario.loader import load_scenario
from tests.builders import registry

BASE = """\
name: base
protocol: {protocol}
cluster: {{nodes: {nodes}}}
workload: {{clients: 2, rate: 10/s, duration: {duration}, recovery: 2s}}
faults:
  - {{at: 1s, kill: n1, duration: 1s}}
seed: 5
"""


def base(tmp_path: Path, nodes: int = 5, duration: str = "6s",
         protocol: str = "gossip") -> BaseScenario:
    path = tmp_path / "base.yaml"
    path.write_text(BASE.format(nodes=nodes, duration=duration, protocol=protocol))
    return BaseScenario.load(path, registry())


def test_the_same_seed_gives_the_same_schedule_and_seeds_differ() -> None:
    space = ScheduleSpace(("n1", "n2", "n3", "n4", "n5"), 10.0, max_faults=4)
    assert generate(space, 7) == generate(space, 7)
    schedules = {repr(generate(space, seed)) for seed in range(20)}
    assert len(schedules) == 20


@pytest.mark.parametrize(("nodes", "duration"), [(1, "2s"), (2, "3s"), (3, "5s"),
                                                 (4, "1500ms"), (5, "6s"), (7, "20s")])
def test_every_schedule_is_a_scenario_the_loader_accepts(tmp_path: Path, nodes: int,
                                                         duration: str) -> None:
    start = base(tmp_path, nodes, duration)
    space = ScheduleSpace(start.scenario.node_ids, start.scenario.workload.duration,
                          max_faults=5)
    shapes = set()
    for seed in range(60):
        faults = generate(space, seed)
        entries = [f.entry for f in faults]
        shapes.update(f.shape for f in faults)
        out = tmp_path / f"s{seed}.yaml"
        out.write_text(start.text(entries, seed))
        scenario = load_scenario(out, registry())
        assert len(scenario.faults) == len(entries)
        assert scenario.seed == seed
        # Concrete: nothing left for the run's seed to draw.
        assert not any(f.choices or isinstance(f.at, tuple) for f in scenario.faults)
        for spec in scenario.faults:
            assert 0 <= spec.at < scenario.workload.duration
            if spec.duration is not None:
                assert isinstance(spec.at, float)
                assert spec.duration > 0
                assert spec.at + spec.duration <= scenario.workload.duration + 1e-9
        firings = expand(scenario, registry().faults, seed)
        for firing in firings:
            assert set(firing.fault.nodes(firing.options)) <= set(scenario.node_ids)
    # Over many seeds every shape the cluster's size allows is drawn, and no other.
    assert shapes == set(space.usable_shapes())


def test_shapes_follow_the_cluster_size() -> None:
    assert ScheduleSpace(("n1",), 5.0).usable_shapes() == ("kill", "stop", "pause", "restart")
    three = ScheduleSpace(("n1", "n2", "n3"), 5.0).usable_shapes()
    assert "bridge" in three and "majorities_ring" not in three
    five = tuple(f"n{i}" for i in range(1, 6))
    aimed = {name for name, shape in SHAPES.items() if shape.needs_leader}
    assert aimed == {"isolate_leader", "kill_leader", "stop_leader", "pause_leader",
                     "restart_leader", "byzantine_leader"}
    traitors = {name for name, shape in SHAPES.items() if shape.byzantine}
    assert traitors == {"byzantine", "byzantine_leader", "mutate", "replay"}
    assert set(ScheduleSpace(five, 5.0).usable_shapes()) == set(SHAPES) - aimed - traitors
    assert (set(ScheduleSpace(five, 5.0, leader=True).usable_shapes())
            == set(SHAPES) - traitors)
    assert set(ScheduleSpace(five, 5.0, leader=True, byzantine=1).usable_shapes()) == set(SHAPES)
    # A Byzantine replica needs n >= 3f + 1 with f >= 1: four replicas at least.
    assert not traitors & set(ScheduleSpace(five[:3], 5.0, byzantine=1).usable_shapes())


def test_byzantine_schedules_have_one_traitor_and_the_loader_takes_them(
        tmp_path: Path) -> None:
    start = base(tmp_path, 4, "6s", "pbft")
    space = ScheduleSpace(start.scenario.node_ids, start.scenario.workload.duration,
                          max_faults=3, leader=True, byzantine=1)
    with_traitor = 0
    for seed in range(60):
        generated = generate(space, seed)
        traitors = [f for f in generated if SHAPES[f.shape].byzantine]
        assert len(traitors) <= 1  # never more than the f = 1 four replicas tolerate
        with_traitor += bool(traitors)
        scenario = start.scenario_with([f.entry for f in generated], seed)
        for firing in expand(scenario, registry().faults, seed):
            if firing.kind == "byzantine":
                assert firing.options.behavior != "random"  # drawn here, not by the run
    # Half the schedules begin with one (about 30 of 60), not one in ten.
    assert 20 <= with_traitor <= 45, with_traitor
    # Without the allowance nothing changes for other families: the same draws as before.
    plain = ScheduleSpace(start.scenario.node_ids, 6.0, max_faults=3, leader=True)
    assert all(not SHAPES[f.shape].byzantine for seed in range(60)
               for f in generate(plain, seed))


@pytest.mark.parametrize("protocol", ["txn", "pbft"])
def test_shapes_aimed_at_the_leader_load_for_a_family_that_names_it(
        tmp_path: Path, protocol: str) -> None:
    start = base(tmp_path, 4, "6s", protocol)
    space = ScheduleSpace(start.scenario.node_ids, start.scenario.workload.duration,
                          max_faults=3, leader=True,
                          shapes=("kill_leader", "isolate_leader", "restart_leader"))
    seen = set()
    for seed in range(20):
        entries = [f.entry for f in generate(space, seed)]
        seen.update(fault_kind(e) for e in entries)
        scenario = start.scenario_with(entries, seed)
        for firing in expand(scenario, registry().faults, seed):
            assert "leader" in firing.description  # left for the moment it fires
    assert seen == {"kill", "partition", "restart"}


def test_a_narrowed_space_draws_only_its_shapes() -> None:
    space = ScheduleSpace(("n1", "n2", "n3"), 5.0, max_faults=3, shapes=("isolate", "kill"))
    for seed in range(30):
        for fault in generate(space, seed):
            assert fault.shape in ("isolate", "kill")
            assert fault_kind(fault.entry) in ("partition", "kill")
    with pytest.raises(ValueError, match="unknown shape"):
        ScheduleSpace(("n1",), 5.0, shapes=("meteor",))


FIVE = tuple(f"n{i}" for i in range(1, 6))


def test_faults_named_by_kind_are_every_shape_of_that_kind_this_cluster_can_have() -> None:
    space = ScheduleSpace(FIVE, 5.0, leader=True).narrowed(["partition", "kill"])
    assert space.usable_shapes() == ("isolate", "minority_majority", "majorities_ring",
                                     "bridge", "one_way", "isolate_leader", "kill",
                                     "kill_leader")
    # Without a leader, and on three nodes, what cannot be drawn is left out of a kind.
    small = ScheduleSpace(FIVE[:3], 5.0).narrowed(["partition"])
    assert small.usable_shapes() == ("isolate", "minority_majority", "bridge", "one_way")
    for seed in range(20):
        assert {fault_kind(f.entry) for f in generate(small, seed)} <= {"partition", "message"}


def test_every_shape_is_filed_under_one_kind_and_traitors_under_byzantine() -> None:
    assert {shape.category for shape in SHAPES.values()} == set(KINDS)
    byzantine = ScheduleSpace(FIVE[:4], 5.0, byzantine=1).narrowed(["byzantine"])
    assert byzantine.usable_shapes() == ("byzantine", "mutate", "replay")


def test_faults_named_by_shape_and_kind_together_are_drawn_once_each() -> None:
    space = ScheduleSpace(FIVE, 5.0, twins=True).narrowed(["one_way", "partition", "twins"])
    assert space.usable_shapes().count("one_way") == 1
    assert space.twins
    assert not ScheduleSpace(FIVE, 5.0, twins=True).narrowed(["one_way"]).twins


@pytest.mark.parametrize(("names", "space", "message"), [
    (["meteor"], ScheduleSpace(FIVE, 5.0), "'meteor' is not a fault: name fault kinds"),
    (["byzantine"], ScheduleSpace(FIVE, 5.0),
     "byzantine cannot be drawn here: no replica may turn Byzantine here"),
    (["kill_leader"], ScheduleSpace(FIVE, 5.0),
     "kill_leader cannot be drawn here: this protocol names no leading node"),
    (["majorities_ring"], ScheduleSpace(FIVE[:3], 5.0),
     "majorities_ring cannot be drawn here: it needs 4 nodes or more; this cluster has 3"),
    (["partition"], ScheduleSpace(FIVE[:1], 5.0),
     "partition cannot be drawn here: it needs 2 nodes or more"),
    (["twins"], ScheduleSpace(FIVE, 5.0), "twins cannot be drawn here"),
    (["twins"], ScheduleSpace(FIVE, 5.0, twins=True), "twins come beside faults"),
    (["latency"], ScheduleSpace(FIVE, 5.0, installed=frozenset({"kill"})),
     "no installed plugin provides the latency fault"),
])
def test_faults_that_cannot_be_drawn_here_are_refused_saying_why(
        names: list[str], space: ScheduleSpace, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        space.narrowed(names)


def test_shapes_whose_fault_is_not_installed_are_left_out() -> None:
    space = ScheduleSpace(("n1", "n2", "n3"), 5.0, installed=frozenset({"kill"}))
    assert space.usable_shapes() == ("kill",)


def test_the_partition_shapes_cut_what_jepsen_cuts() -> None:
    nodes = tuple(f"n{i}" for i in range(1, 6))
    space = ScheduleSpace(nodes, 5.0, max_faults=1, shapes=("majorities_ring",))
    (ring,) = generate(space, 3)
    cut = {tuple(link.split("->")) for link in ring.entry["message"]["links"]}
    assert ring.entry["message"]["drop"] == 1.0
    # Every node still reaches a majority (itself and two others), and no two the same.
    views = {n: frozenset(m for m in nodes if m == n or (n, m) not in cut) for n in nodes}
    assert all(len(view) == 3 for view in views.values())
    assert len(set(views.values())) == 5
    bridge_space = ScheduleSpace(nodes, 5.0, max_faults=1, shapes=("bridge",))
    (bridge,) = generate(bridge_space, 3)
    cut = {tuple(link.split("->")) for link in bridge.entry["message"]["links"]}
    touched = {n for link in cut for n in link}
    (middle,) = set(nodes) - touched  # one node reaches both sides
    assert middle in nodes
    assert len(cut) == 2 * 2 * 2


def test_durations_are_written_exactly() -> None:
    assert seconds_text(2.0) == "2s"
    assert seconds_text(1.25) == "1250ms"
    assert seconds_text(0.01) == "10ms"
    assert entry_seconds("1250ms") == 1.25
    assert entry_seconds("3s") == 3.0


def test_a_space_too_small_for_faults_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        ScheduleSpace(("n1",), 0.01)
    with pytest.raises(ValueError, match="at least one node"):
        ScheduleSpace((), 5.0)


def test_performance_checks_are_left_out_of_an_exploration(tmp_path: Path) -> None:
    path = tmp_path / "perf.yaml"
    path.write_text(BASE.format(nodes=4, duration="6s", protocol="pbft")
                    + "checks: [agreement, {latency: {p99: 500ms}}, validity]\n")
    start = BaseScenario.load(path, registry())
    assert start.left_out == ("latency",)
    assert [c.name for c in start.scenario.checks] == ["agreement", "validity"]
    written = start.scenario_with([], 5)
    assert [c.name for c in written.checks] == ["agreement", "validity"]
    start.check_explorable()
    only = tmp_path / "only.yaml"
    only.write_text(BASE.format(nodes=4, duration="6s", protocol="pbft")
                    + "checks: [{latency: {p99: 500ms}}]\n")
    with pytest.raises(ScenarioError, match="only performance checks"):
        BaseScenario.load(only, registry()).check_explorable()


def test_speed_bounds_of_kept_checks_are_left_out_of_an_exploration(tmp_path: Path) -> None:
    # Convergence is eventual: how soon after the heal it comes is speed, which faults the
    # scenario did not plan may rightly slow (anti-entropy after a partition and a stop
    # took a correct node past a fault-free `within: 3s`). It is judged by the end of
    # recovery instead; every other option, and every other check's, is kept.
    path = tmp_path / "speed.yaml"
    checks = ("checks: [{convergence: {within: 3s, spread: 1s}}, no_invented_values, "
              "{failure_detection: {within: 3s}}]\n")
    path.write_text(BASE.format(nodes=5, duration="6s", protocol="gossip") + checks)
    start = BaseScenario.load(path, registry())
    assert start.relaxed == ("convergence: within 3s",) and start.left_out == ()
    for scenario in (start.scenario, start.scenario_with([], 5)):
        options = {c.name: c.options for c in scenario.checks}
        assert options["convergence"].within is None and options["convergence"].spread == 1.0
        assert options["failure_detection"].within == 3.0
    assert "- convergence: {spread: 1s}" in start.text([], 5)
    short = tmp_path / "short.yaml"
    short.write_text(BASE.format(nodes=5, duration="6s", protocol="gossip")
                     + "checks: [{convergence: 2s}]\n")
    start = BaseScenario.load(short, registry())
    assert start.relaxed == ("convergence: within 2s",)
    assert "checks: [convergence]" in start.text([], 5)
    assert start.scenario_with([], 5).checks[0].options.within is None
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE.format(nodes=5, duration="6s", protocol="gossip")
                     + "checks: [convergence]\n")
    assert BaseScenario.load(plain, registry()).relaxed == ()


def test_a_traitor_made_by_its_agent_is_one_node_lying_to_all_the_others(
        tmp_path: Path) -> None:
    start = base(tmp_path, 4, "6s", "pbft")
    nodes = start.scenario.node_ids
    space = ScheduleSpace(nodes, 6.0, max_faults=3, byzantine=1, shapes=("mutate", "replay"))
    drawn = set()
    for seed in range(30):
        for fault in generate(space, seed):
            kind = fault.shape
            drawn.add(kind)
            options = fault.entry["message"]
            assert set(options) == {kind, "links"} and 0 < options[kind] < 1
            scenario = start.scenario_with([fault.entry], seed)
            [firing] = expand(scenario, registry().faults, seed)
            [traitor] = scheduled_byzantine([firing])  # PBFT's checks see one Byzantine
            others = {n for n in nodes if n != traitor}
            assert set(firing.options.links) == {(traitor, o) for o in others}
    assert drawn == {"mutate", "replay"}


def test_every_kind_of_traitor_counts_against_f_and_one_is_drawn_at_most() -> None:
    nodes = ("n1", "n2", "n3", "n4")
    space = ScheduleSpace(nodes, 6.0, max_faults=4, leader=True, byzantine=1)
    kinds = set()
    for seed in range(80):
        entries = [f.entry for f in generate(space, seed)]
        assert traitors(entries) <= 1
        kinds.update(fault_kind(e) for e in entries if makes_traitor(e))
    assert kinds == {"byzantine", "message"}
    assert makes_traitor({"at": "1s", "message": {"replay": 0.1, "links": "all"}})
    assert not makes_traitor({"at": "1s", "message": {"drop": 0.1, "links": "all"}})
    # Twins spend f: none left, no traitor of either kind.
    assert not {n for n in ScheduleSpace(nodes, 6.0, byzantine=0).usable_shapes()
                if SHAPES[n].byzantine}


def test_a_node_that_cannot_turn_byzantine_still_gets_traitors_made_by_its_agent() -> None:
    nodes = ("n1", "n2", "n3", "n4")
    shapes = set(ScheduleSpace(nodes, 6.0, leader=True, byzantine=1,
                               behaviours=False).usable_shapes())
    assert {"mutate", "replay"} <= shapes
    assert not {"byzantine", "byzantine_leader"} & shapes


def test_a_familys_own_fault_model_passes_over_what_the_cluster_cannot_have() -> None:
    space = ScheduleSpace(FIVE[:3], 5.0).narrowed(["partition", "kill_leader", "loss"],
                                                  strict=False)
    assert space.usable_shapes() == ("isolate", "minority_majority", "bridge", "one_way",
                                     "loss")
    with pytest.raises(ValueError, match=r"none of its faults can be drawn here: partition, "
                                         r"loss \(it needs 2 nodes or more; this cluster has "
                                         r"1\)$"):
        ScheduleSpace(FIVE[:1], 5.0).narrowed(["partition", "loss"], strict=False)
