"""The search of an exploration with slots side by side (``--workers``), on a fake pool: runs
take the time a script says and end with the verdict it says, so which run finishes first is
chosen by the test. The failure found must be the failing run with the lowest k whatever
finished first; runs are listed in the order of k; a failure stops the handing out, not the
runs under way; an interrupt keeps what finished."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_dchaos.errors import DchaosError
from pytest_dchaos.explore.attempt import Phase, Tried, Verdict
from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.explorer import ExploreOptions, Explorer, schedule_seeds
from pytest_dchaos.explore.pool import Job, SearchPool
from pytest_dchaos.explore.schedule import FaultEntry
from pytest_dchaos.record.result import RunResult
from pytest_dchaos.run.runner import RunOptions
from pytest_dchaos.scenario.loader import load_scenario
from pytest_dchaos.scenario.model import Scenario
from tests.builders import registry

SCENARIO = """\
name: small
protocol: gossip
cluster: {nodes: 3}
workload: {duration: 4s, recovery: 1s}
checks: [convergence]
"""


class FakePool:
    """``size`` slots on a virtual clock: run k takes ``durations[k]`` seconds (default 1)
    and ends with ``verdicts[k]`` (default pass); :meth:`wait` returns the runs that end
    first (all that end at that moment, in the order of their slots). ``interrupt_after``
    raises KeyboardInterrupt in the wait after that many runs finished."""

    def __init__(self, size: int, verdicts: Mapping[int, Verdict],
                 durations: Mapping[int, float], interrupt_after: int | None = None) -> None:
        self.size = size
        self.verdicts, self.durations = verdicts, durations
        self.interrupt_after = interrupt_after
        self.now = 0.0
        self.slots: dict[int, tuple[float, Job]] = {}
        self.submitted: list[int] = []
        self.finished = 0
        self.cancelled: list[int] = []
        self.closed = False

    def idle(self) -> int:
        return self.size - len(self.slots)

    def submit(self, job: Job) -> None:
        slot = min(set(range(1, self.size + 1)) - set(self.slots))
        self.slots[slot] = (self.now + self.durations.get(job.number, 1.0), job)
        self.submitted.append(job.number)
        Path(job.report_dir).mkdir(parents=True, exist_ok=True)  # as a run makes its folder

    def wait(self) -> list[Tried]:
        if self.interrupt_after is not None and self.finished >= self.interrupt_after:
            raise KeyboardInterrupt
        self.now = min(end for end, _ in self.slots.values())
        done = []
        for slot in sorted(s for s, (end, _) in self.slots.items() if end == self.now):
            _, job = self.slots.pop(slot)
            self.finished += 1
            verdict = self.verdicts.get(job.number, "pass")
            done.append(Tried(job.number, "search", job.seed, job.faults, job.shapes, verdict,
                              ["convergence"] if verdict == "fail" else [],
                              "scripted" if verdict != "pass" else "", 1.0, [], worker=slot))
        return done

    def cancel(self, number: int) -> None:
        slot = next(s for s, (_, job) in self.slots.items() if job.number == number)
        del self.slots[slot]
        self.cancelled.append(number)

    def close(self) -> None:
        self.closed = True


class FakeExplorer(Explorer):
    """An explorer whose search runs on a :class:`FakePool` and whose runs in this process
    (confirming, shrinking, the minimal run) fail whenever their schedule has a fault."""

    def __init__(self, base: BaseScenario, options: ExploreOptions, pool: FakePool) -> None:
        super().__init__(base, options, registry())
        self.pool = pool

    def _search_pool(self) -> SearchPool:
        return self.pool

    def _attempt(self, scenario: Scenario, options: RunOptions, number: int, phase: Phase,
                 seed: int, faults: list[FaultEntry], shapes: list[str]
                 ) -> tuple[Tried, RunResult | None]:
        verdict: Verdict = "fail" if faults else "pass"
        return Tried(number, phase, seed, faults, shapes, verdict,
                     ["convergence"] if faults else [], "", 0.1, []), None


@pytest.fixture
def base(tmp_path: Path) -> BaseScenario:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    return BaseScenario.load(path, registry())


def explore(tmp_path: Path, base: BaseScenario, pool: FakePool, *, name: str = "out",
            runs: int = 8, seed: int = 5) -> tuple[FakeExplorer, dict[str, object]]:
    options = ExploreOptions(report_dir=tmp_path / name, budget=600, runs=runs, seed=seed,
                             confirm=1, workers=pool.size, stream=io.StringIO())
    explorer = FakeExplorer(base, options, pool)
    explorer.run()
    return explorer, json.loads((tmp_path / name / "explore.json").read_text())


def progress(explorer: Explorer) -> str:
    stream = explorer.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def searched(report: Mapping[str, object]) -> list[dict[str, object]]:
    runs = report["runs"]
    assert isinstance(runs, list)
    return [r for r in runs if r["phase"] == "search"]


def test_the_failing_run_with_the_lowest_k_is_found_though_a_later_one_finished_first(
        tmp_path: Path, base: BaseScenario) -> None:
    # Run 2 fails after 1s, run 1 fails after 10s: a search one run at a time finds run 1.
    pool = FakePool(2, verdicts={1: "fail", 2: "fail"}, durations={1: 10.0, 2: 1.0})
    explorer, report = explore(tmp_path, base, pool)
    assert explorer.result.found is not None
    assert explorer.result.found.number == 1
    found = report["found"]
    assert isinstance(found, dict)
    assert found["run"] == 1 and found["schedule"] == 1
    # Run 2's failure stopped the handing out; run 1 was under way and finished.
    assert pool.submitted == [1, 2]
    assert [(r["run"], r["schedule"], r["verdict"]) for r in searched(report)] == [
        (1, 1, "fail"), (2, 2, "fail")]
    # Only the found run's report folder is kept.
    assert found["report_dir"] == str(tmp_path / "out" / "runs" / "0001")
    assert (tmp_path / "out" / "runs" / "0001").is_dir()
    assert not (tmp_path / "out" / "runs" / "0002").exists()
    assert report["stopped_by"] == "failure"
    assert pool.cancelled == [] and report["stopped_runs"] == []
    # Confirming and shrinking are numbered after every search run.
    later = [r["run"] for r in report["runs"] if r["phase"] != "search"]
    assert later and min(later) == 3
    assert pool.closed


def test_the_runs_are_listed_in_the_order_of_k_with_the_worker_that_ran_each(
        tmp_path: Path, base: BaseScenario) -> None:
    pool = FakePool(2, verdicts={}, durations={1: 5.0, 2: 1.0, 3: 1.0, 4: 1.0})
    explorer, report = explore(tmp_path, base, pool, runs=4)
    assert explorer.result.found is None and report["stopped_by"] == "runs"
    runs = searched(report)
    assert [r["run"] for r in runs] == [1, 2, 3, 4]
    # Run 1 held slot 1 while slot 2 ran 2, 3 and 4.
    assert [r["worker"] for r in runs] == [1, 2, 2, 2]
    assert report["workers"] == 2
    # Passing runs leave no report folder.
    assert not list((tmp_path / "out" / "runs").iterdir())
    assert "run 2 (worker 2): PASS" in progress(explorer)


def test_the_same_seed_finds_the_same_failure_whichever_run_finishes_first(
        tmp_path: Path, base: BaseScenario) -> None:
    verdicts: dict[int, Verdict] = {3: "fail", 4: "fail", 6: "fail"}
    found = []
    for name, durations in [("slow-3", {3: 9.0}), ("slow-4", {4: 9.0}), ("even", {})]:
        explorer, _ = explore(tmp_path, base, FakePool(2, verdicts, durations), name=name)
        assert explorer.result.found is not None
        found.append((explorer.result.found.number, explorer.result.found.faults))
    # One at a time, the same schedules: run 3 is the first that fails.
    explorer, _ = explore(tmp_path, base, FakePool(1, verdicts, {}), name="one")
    assert explorer.result.found is not None
    assert found == [(3, explorer.result.found.faults)] * 3


def test_schedules_are_those_of_the_seed_in_the_order_of_k(
        tmp_path: Path, base: BaseScenario) -> None:
    _, report = explore(tmp_path, base, FakePool(2, {}, {1: 3.0}), runs=3, seed=9)
    seeds = schedule_seeds(9)
    assert [r["seed"] for r in searched(report)] == [next(seeds) for _ in range(3)]


def test_a_failure_stops_handing_out_but_not_the_runs_under_way(
        tmp_path: Path, base: BaseScenario) -> None:
    # Run 2 fails early; run 1 (passing) and nothing else is still under way.
    pool = FakePool(2, verdicts={2: "fail"}, durations={1: 4.0, 2: 1.0})
    explorer, report = explore(tmp_path, base, pool)
    assert pool.submitted == [1, 2]
    assert explorer.result.found is not None and explorer.result.found.number == 2
    assert [r["verdict"] for r in searched(report)] == ["pass", "fail"]
    assert ("run 2 failed: no more schedules handed out; finishing run(s) 1 under way"
            in progress(explorer))


def test_a_failure_stops_the_runs_under_way_after_it(
        tmp_path: Path, base: BaseScenario) -> None:
    # Three slots: run 1 fails at 4s; run 2 (under way until 9s) and run 4 (under way
    # until 9s, after run 3 passed at 1s) cannot be the one found: both are stopped.
    pool = FakePool(3, verdicts={1: "fail", 2: "fail"}, durations={1: 4.0, 2: 9.0, 4: 8.0})
    explorer, report = explore(tmp_path, base, pool)
    assert pool.submitted == [1, 2, 3, 4]
    assert pool.cancelled == [2, 4]
    assert report["stopped_runs"] == [2, 4]
    # Run 3 finished before run 1 failed: it is listed, though run 2 never finished.
    assert [(r["run"], r["verdict"]) for r in searched(report)] == [(1, "fail"), (3, "pass")]
    assert explorer.result.found is not None and explorer.result.found.number == 1
    assert not (tmp_path / "out" / "runs" / "0002").exists()
    assert not (tmp_path / "out" / "runs" / "0004").exists()
    assert ("run 1 failed: no more schedules handed out; stopped run(s) 2, 4"
            in progress(explorer))


def test_runs_that_end_together_are_taken_together(
        tmp_path: Path, base: BaseScenario) -> None:
    # Runs 1 and 2 end at the same moment and both fail: neither is stopped, 1 is found.
    pool = FakePool(2, verdicts={1: "fail", 2: "fail"}, durations={})
    explorer, report = explore(tmp_path, base, pool)
    assert pool.cancelled == []
    assert [r["verdict"] for r in searched(report)] == ["fail", "fail"]
    assert explorer.result.found is not None and explorer.result.found.number == 1


def test_a_first_schedule_that_cannot_run_ends_the_exploration_whatever_finished_first(
        tmp_path: Path, base: BaseScenario) -> None:
    pool = FakePool(2, verdicts={1: "error"}, durations={1: 5.0})
    with pytest.raises(DchaosError, match=r"could not run \(run 1\): scripted"):
        explore(tmp_path, base, pool)
    assert pool.closed
    report = json.loads((tmp_path / "out" / "explore.json").read_text())
    assert [r["run"] for r in report["runs"]] == [1]


def test_an_interrupt_keeps_every_run_that_finished_and_the_failure_among_them(
        tmp_path: Path, base: BaseScenario) -> None:
    # Runs 2 and 3 finish (3 fails) while run 1 is still under way; then Ctrl-C.
    pool = FakePool(2, verdicts={3: "fail"}, durations={1: 9.0}, interrupt_after=2)
    explorer, report = explore(tmp_path, base, pool)
    assert pool.closed
    assert explorer.result.interrupted and report["interrupted"] is True
    assert [r["run"] for r in searched(report)] == [2, 3]
    assert explorer.result.found is not None and explorer.result.found.number == 3
    # Unconfirmed: the one run that found it, and minimal.yaml says so.
    assert report["found"]["confirmed"] == {"failed": 1, "runs": 1, "rate": 1.0, "flaky": False}
    assert "in 1 of 1 runs" in (tmp_path / "out" / "minimal.yaml").read_text()


@pytest.mark.parametrize(("workers", "backend", "message"), [
    (0, "local", "--workers must be at least 1"),
    (-2, "local", "--workers must be at least 1"),
    (2, "docker", "--workers 2 runs schedules side by side on the local backend only"),
])
def test_workers_outside_what_can_run_are_refused(
        tmp_path: Path, base: BaseScenario, workers: int, backend: str, message: str) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=60, workers=workers,
                             run=RunOptions(backend=backend))
    with pytest.raises(DchaosError, match=message):
        Explorer(base, options, registry())


def test_a_node_that_cannot_turn_byzantine_keeps_the_traitors_its_agent_makes(
        tmp_path: Path) -> None:
    path = tmp_path / "pbft.yaml"
    path.write_text("name: p\nprotocol: pbft\ncluster: {nodes: 4}\n"
                    "workload: {duration: 4s, recovery: 1s}\n")
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=1,
                             confirm=1, workers=1, stream=io.StringIO())
    explorer = Explorer(BaseScenario.load(path, registry()), options, registry())
    assert {"byzantine", "mutate"} <= set(explorer.space.usable_shapes())
    refused = Tried(1, "search", 7, [{"at": "1s", "byzantine": {"node": "n2",
                                                                "behavior": "forge"}}],
                    ["byzantine"], "error", [], "n2 cannot turn forge: no dchaos_byzantine",
                    0.1, [], refused=True)
    explorer._record(refused)
    shapes = set(explorer.space.usable_shapes())
    assert "byzantine" not in shapes and "byzantine_leader" not in shapes
    assert {"mutate", "replay"} <= shapes and explorer.space.byzantine == 1
    assert "no Byzantine behaviours from now on" in progress(explorer)


def test_the_first_line_says_what_is_explored_with_which_seed_and_where_it_goes(
        tmp_path: Path, base: BaseScenario) -> None:
    explorer, _ = explore(tmp_path, base, FakePool(1, {}, {}), runs=1, seed=41)
    first = progress(explorer).splitlines()[0]
    assert "exploring small (gossip, 3 nodes, local backend): seed 41," in first
    assert "drawn" not in first  # the seed was given
    assert "at most 1 run(s)" in first and "checks: convergence" in first
    assert first.endswith(f"report: {tmp_path / 'out'}")


def test_a_drawn_seed_is_said_with_how_to_repeat_the_search(
        tmp_path: Path, base: BaseScenario) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, confirm=1,
                             stream=io.StringIO())
    explorer = FakeExplorer(base, options, FakePool(1, {}, {}))
    explorer.run()
    first = progress(explorer).splitlines()[0]
    assert f"seed {explorer.seed} (drawn; --seed repeats this search)" in first


def test_only_the_faults_named_are_drawn_and_the_exploration_says_so(
        tmp_path: Path, base: BaseScenario) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=12, seed=3,
                             confirm=1, stream=io.StringIO(), faults=("stop", "one_way"))
    explorer = FakeExplorer(base, options, FakePool(1, {}, {}))
    explorer.run()
    report = json.loads((tmp_path / "out" / "explore.json").read_text())
    assert report["faults"] == ["stop", "one_way"]
    assert report["shapes"] == ["stop", "one_way"]
    drawn = {shape for run in searched(report) for shape in run["shapes"]}
    assert drawn == {"stop", "one_way"}
    assert "up to 3 fault(s) a schedule (only stop, one_way);" in progress(explorer)


def test_faults_nothing_here_can_draw_are_refused_before_any_run(
        tmp_path: Path, base: BaseScenario) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=3,
                             faults=("kill_leader",))
    with pytest.raises(DchaosError, match=r"--faults: kill_leader cannot be drawn here: this "
                                          r"protocol names no leading node \(gossip, 3 nodes\)"):
        Explorer(base, options, registry())
    assert not (tmp_path / "out").exists()


def pbft_base(tmp_path: Path) -> BaseScenario:
    path = tmp_path / "pbft.yaml"
    path.write_text("name: p\nprotocol: pbft\ncluster: {nodes: 4}\n"
                    "workload: {duration: 4s, recovery: 1s}\n")
    return BaseScenario.load(path, registry())


def test_a_twin_drawn_beside_traitors_only_is_the_whole_schedule(tmp_path: Path) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, seed=1,
                             faults=("byzantine_leader", "twins"))
    explorer = Explorer(pbft_base(tmp_path), options, registry())
    seeds = schedule_seeds(1)
    jobs = [explorer._job(k, next(seeds)) for k in range(1, 31)]
    with_twin = [job for job in jobs if job.twins]
    assert with_twin and all(job.faults == [] for job in with_twin)
    assert all(job.shapes == ["byzantine_leader"] for job in jobs if not job.twins)


def test_a_node_that_cannot_turn_byzantine_ends_an_exploration_of_its_behaviours_only(
        tmp_path: Path) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=1,
                             stream=io.StringIO(), faults=("byzantine_leader",))
    explorer = Explorer(pbft_base(tmp_path), options, registry())
    refused = Tried(1, "search", 7, [{"at": "1s", "byzantine": {"node": "leader",
                                                                "behavior": "forge"}}],
                    ["byzantine_leader"], "error", [], "n1 cannot turn forge", 0.1, [],
                    refused=True)
    with pytest.raises(DchaosError, match="leave no other to draw"):
        explorer._record(refused)


def test_each_search_run_has_its_schedule_as_a_scenario_file_kept_if_it_failed(
        tmp_path: Path, base: BaseScenario) -> None:
    explorer, report = explore(tmp_path, base, FakePool(1, {2: "fail"}, {}), runs=3)
    kept = tmp_path / "out" / "runs" / "0002"
    schedule = kept / "scenario.yaml"
    failed = searched(report)[1]
    # The failing run's folder holds its schedule, an ordinary scenario a rerun can load.
    loaded = load_scenario(schedule, registry())
    assert len(loaded.faults) == len(failed["faults"]) and loaded.seed == failed["seed"]
    assert not (tmp_path / "out" / "runs" / "0001").exists()  # a passing run's goes
    job = explorer._job(9, 123)
    assert job.where == str(tmp_path / "out" / "runs" / "0009" / "scenario.yaml")
    assert Path(job.where).read_text() == job.text


class SlowExplorer(FakeExplorer):
    """Its runs in this process take 50 ms each, and all fail (faults or none)."""

    def _attempt(self, scenario: Scenario, options: RunOptions, number: int, phase: Phase,
                 seed: int, faults: list[FaultEntry], shapes: list[str]
                 ) -> tuple[Tried, RunResult | None]:
        time.sleep(0.05)
        return Tried(number, phase, seed, faults, shapes, "fail", ["convergence"], "", 0.05,
                     []), None


def test_the_shrink_budget_ends_a_candidate_between_its_reruns(
        tmp_path: Path, base: BaseScenario) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=5,
                             confirm=3, shrink_budget=0.03, stream=io.StringIO())
    explorer = SlowExplorer(base, options, FakePool(1, {1: "fail"}, {}))
    explorer.run()
    report = json.loads((tmp_path / "out" / "explore.json").read_text())
    shrinking = [r for r in report["runs"] if r["phase"] == "shrink"]
    assert len(shrinking) == 1  # the first candidate's first run only, not its three
    assert "not judged, the shrink budget ended" in progress(explorer)
    assert report["shrink"]["complete"] is False


def maelstrom_base(tmp_path: Path, protocol: str, nodes: int) -> BaseScenario:
    path = tmp_path / f"{protocol}.yaml"
    path.write_text(f"name: m\nprotocol: {protocol}\ncluster: {{nodes: {nodes}}}\n"
                    "workload: {duration: 4s, recovery: 1s}\n")
    return BaseScenario.load(path, registry())


def test_maelstroms_workloads_are_explored_under_network_faults_unless_told(
        tmp_path: Path) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=1,
                             stream=io.StringIO())
    explorer = Explorer(maelstrom_base(tmp_path, "g-counter", 3), options, registry())
    assert set(explorer.space.usable_shapes()) == {
        "isolate", "minority_majority", "bridge", "one_way", "loss", "reorder", "latency",
        "bandwidth"}
    assert "network faults Maelstrom tests its workloads under" in explorer._heading()
    told = Explorer(maelstrom_base(tmp_path, "g-counter", 3),
                    replace(options, faults=("restart",)), registry())
    assert told.space.usable_shapes() == ("restart",)
    # The reference families are written for crashes and restarts too.
    gossip = Explorer(maelstrom_base(tmp_path, "gossip", 3), options, registry())
    assert {"kill", "restart", "pause"} <= set(gossip.space.usable_shapes())


def test_one_echo_node_has_no_network_to_fault_and_says_to_name_faults(
        tmp_path: Path) -> None:
    options = ExploreOptions(report_dir=tmp_path / "out", budget=600, runs=1, seed=1)
    with pytest.raises(DchaosError, match=r"cannot explore echo on 1 node\(s\) with the "
                                          r"faults it is explored under by default .* name "
                                          r"others with --faults"):
        Explorer(maelstrom_base(tmp_path, "echo", 1), options, registry())
    told = Explorer(maelstrom_base(tmp_path, "echo", 1), replace(options, faults=("kill",)),
                    registry())
    assert told.space.usable_shapes() == ("kill",)
