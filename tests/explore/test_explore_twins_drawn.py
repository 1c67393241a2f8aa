"""Twins in an exploration: drawn for Byzantine-fault-tolerant families within f, written
into the cluster section of the scenario a schedule makes, and dropped by the shrinker as a
fault is. No run here: the schedules, the scenarios they make and the shrinking steps."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import yaml

from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.explorer import ExploreOptions, Explorer, schedule_seeds
from pytest_dchaos.explore.pool import Job
from pytest_dchaos.explore.schedule import FaultEntry, ScheduleSpace, draw_twin, fault_kind
from pytest_dchaos.explore.shrink import Shrinker, Trim
from tests.builders import registry

PBFT = """\
name: pbft-small
protocol: pbft
cluster: {nodes: NODES}
workload: {clients: 2, duration: 4s, recovery: 1s}
checks: [agreement]
"""


def explorer(tmp_path: Path, nodes: int = 4, extra: str = "") -> Explorer:
    path = tmp_path / "pbft.yaml"
    text = PBFT.replace("NODES", str(nodes))
    if extra:
        text = text.replace(f"cluster: {{nodes: {nodes}}}",
                            f"cluster: {{nodes: {nodes}, {extra}}}")
    path.write_text(text)
    base = BaseScenario.load(path, registry())
    return Explorer(base, ExploreOptions(report_dir=tmp_path / "out", budget=60, seed=11,
                                         stream=io.StringIO()), registry())


def jobs(ex: Explorer, count: int = 150) -> list[Job]:
    seeds = schedule_seeds(ex.seed)
    return [ex._job(k, next(seeds)) for k in range(1, count + 1)]


def test_a_twin_is_drawn_in_some_schedules_and_never_beyond_f(tmp_path: Path) -> None:
    drawn = jobs(explorer(tmp_path))
    with_twin = [job for job in drawn if job.twins]
    assert 0.2 < len(with_twin) / len(drawn) < 0.5
    for job in with_twin:
        (twin,) = job.twins
        # f = 1 with four replicas: a twin takes it, so no Byzantine fault beside it.
        assert not any(fault_kind(f) == "byzantine" for f in job.faults), job.faults
        others = {"n1", "n2", "n3", "n4"} - {twin["node"]}
        assert twin["sees"] and set(twin["sees"]) < others
        assert twin["reorder"] in ("50ms", "100ms", "200ms")
        cluster = yaml.safe_load(job.text)["cluster"]
        assert cluster["twins"] == [twin], "the twin goes where any scenario has it"
    # The primary of view 0 (the family can tell) is twinned in about half of them.
    assert 0.3 < sum(j.twins[0]["node"] == "n1" for j in with_twin) / len(with_twin) < 0.9
    assert any(any(fault_kind(f) == "byzantine" for f in j.faults) for j in drawn)


def test_the_same_seed_draws_the_same_twin_and_faults_with_and_without_twins(
        tmp_path: Path) -> None:
    space = ScheduleSpace(("n1", "n2", "n3", "n4"), 4.0, byzantine=1, twins=True,
                          first_leader="n1")
    assert [draw_twin(space, s) for s in range(50)] == [draw_twin(space, s) for s in range(50)]
    assert all(draw_twin(ScheduleSpace(space.nodes, 4.0, byzantine=1), s) is None
               for s in range(50))
    assert all(draw_twin(ScheduleSpace(("n1", "n2", "n3"), 4.0, twins=True), s) is None
               for s in range(50))


def test_a_scenario_with_a_twin_of_its_own_gets_no_other(tmp_path: Path) -> None:
    ex = explorer(tmp_path, extra="twins: [{node: n2, sees: [n3]}]")
    assert not any(job.twins for job in jobs(ex, 60))


def test_a_gossip_scenario_never_gets_a_twin(tmp_path: Path) -> None:
    path = tmp_path / "gossip.yaml"
    path.write_text("name: g\nprotocol: gossip\ncluster: {nodes: 4}\n"
                    "workload: {duration: 4s}\nchecks: [convergence]\n")
    ex = Explorer(BaseScenario.load(path, registry()),
                  ExploreOptions(report_dir=tmp_path / "out", budget=60, seed=3,
                                 stream=io.StringIO()), registry())
    assert not any(job.twins for job in jobs(ex, 60))


def test_the_scenario_a_twin_schedule_makes_loads_with_the_twin(tmp_path: Path) -> None:
    ex = explorer(tmp_path)
    job = next(j for j in jobs(ex) if j.twins)
    scenario = ex.base.scenario_with(job.faults, job.seed, twins=job.twins)
    (twin,) = scenario.cluster.twins
    assert twin.node == job.twins[0]["node"] and twin.reorder > 0
    assert scenario.cluster.members[-1] == f"{twin.node}-twin"


TWIN = {"node": "n1", "sees": ["n3", "n4"], "reorder": "50ms"}


def test_the_shrinker_drops_a_twin_the_failure_does_not_need() -> None:
    start: list[FaultEntry] = [{"at": "1s", "kill": "n2", "duration": "1s"}]

    def kill_alone(schedule: Sequence[FaultEntry], trim: Trim) -> bool:
        return bool(schedule)

    result = Shrinker(start, lambda s: False, trim=Trim(4.0, 2, 4, min_nodes=4, twins=(TWIN,)),
                      still_fails_trimmed=kill_alone).run()
    assert result.trim is not None and result.trim.twins == ()
    assert any(s.action == "remove" and s.detail == "the twin of n1" and s.still_fails
               for s in result.steps)


def test_the_shrinker_keeps_a_twin_the_failure_needs_and_records_it() -> None:
    start: list[FaultEntry] = [{"at": "1s", "kill": "n2", "duration": "1s"}]

    def twin_alone(schedule: Sequence[FaultEntry], trim: Trim) -> bool:
        return bool(trim.twins)

    result = Shrinker(start, lambda s: False, trim=Trim(4.0, 2, 4, min_nodes=4, twins=(TWIN,)),
                      still_fails_trimmed=twin_alone).run()
    assert result.faults == [] and result.trim is not None and result.trim.twins == (TWIN,)
    dropped = next(s for s in result.steps if s.detail == "the twin of n1")
    assert not dropped.still_fails and "twins" not in dropped.to_json()["run"]
    assert result.steps[0].to_json()["run"]["twins"] == [TWIN]
