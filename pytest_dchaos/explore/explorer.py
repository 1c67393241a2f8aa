"""An exploration: generated schedules run against a scenario's cluster, workload and
checks until a check fails or the budget ends; a failure confirmed by reruns, shrunk, and
written as an ordinary scenario.

Every run is a real run (:func:`~pytest_dchaos.run.runner.run_scenario`) of the scenario
the loader makes of the schedule. ``DIR/explore.json`` is rewritten as runs finish, so an
exploration stopped by Ctrl-C still leaves what it found.

The search hands the k-th schedule (a function of the exploration seed and k alone) to a
free slot of its :class:`~pytest_dchaos.explore.pool.SearchPool` — this process, or one of
``--workers`` processes — and records the runs in the order of k, whatever order they
finish in: the failure found is the failing run with the lowest k, as in a search one run
at a time. Confirming and shrinking run in this process, one run after another.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from pytest_dchaos.errors import DchaosError, ScenarioError
from pytest_dchaos.explore.attempt import Phase, Tried, Verdict, attempt
from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.coverage import Coverage
from pytest_dchaos.explore.pool import InlinePool, Job, ProcessPool, SearchPool
from pytest_dchaos.explore.schedule import (
    FaultEntry,
    ScheduleSpace,
    draw_twin,
    fault_kind,
    generate,
    traitors,
)
from pytest_dchaos.explore.shrink import Shrinker, ShrinkStep, Trim, moved_text
from pytest_dchaos.families.base import ProtocolFamily
from pytest_dchaos.record.result import RunResult
from pytest_dchaos.registry import Registry, in_process_plugins
from pytest_dchaos.run.runner import RunOptions
from pytest_dchaos.scenario.loader import load_scenario
from pytest_dchaos.scenario.model import Scenario
from pytest_dchaos.units import format_duration

#: The scenario of a search run, in its folder: an ordinary scenario file.
SCHEDULE_FILE = "scenario.yaml"

#: Consecutive runs that could not run at all before the exploration gives up.
MAX_ERRORS = 3


@dataclass
class ExploreOptions:
    """How to explore; each has a ``dchaos explore`` flag."""

    report_dir: Path
    #: Seconds of searching; a run under way when it ends is finished.
    budget: float
    #: At most this many schedules searched (None: until the budget ends).
    runs: int | None = None
    seed: int | None = None
    #: Runs that judge a schedule: the found failure is run this many times in all, and a
    #: shrinking step is kept only if its candidate fails this many times.
    confirm: int = 3
    max_faults: int = 3
    #: Seconds for confirming and shrinking (None: as long as ``budget``).
    shrink_budget: float | None = None
    #: Backend, node command, Toxiproxy: as for ``dchaos run``.
    run: RunOptions = field(default_factory=RunOptions)
    stream: TextIO | None = None
    #: Search runs side by side, each in a worker process of its own (local backend only).
    workers: int = 1
    #: Draw only these faults (``--faults``): fault kinds, shapes, and ``twins``; all
    #: that the cluster can have when empty.
    faults: tuple[str, ...] = ()


@dataclass
class ExploreResult:
    found: Tried | None = None
    #: Runs of the found schedule that failed, of those that judged it.
    confirmed: tuple[int, int] = (0, 0)
    minimal: list[FaultEntry] | None = None
    #: The run's size the shrink ended with (None: as the scenario has it).
    minimal_trim: Trim | None = None
    shrink_complete: bool = False
    minimal_path: Path | None = None
    #: The verdict of running ``minimal.yaml`` as written (None if it was not run).
    minimal_run: Tried | None = None
    interrupted: bool = False
    #: What interrupted it (Ctrl-C, or SIGTERM as :class:`~pytest_dchaos.interrupts.Terminated`).
    interrupt: KeyboardInterrupt | None = None
    stopped_by: str = ""
    runs: list[Tried] = field(default_factory=list)
    #: Search runs stopped unfinished because a run with a lower k had failed.
    stopped_runs: list[int] = field(default_factory=list)
    steps: list[ShrinkStep] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)

    @property
    def flaky(self) -> bool:
        failed, judged = self.confirmed
        return 0 < failed < judged


def fault_names(text: str | None) -> tuple[str, ...]:
    """``--faults``' comma-separated names (checked by the explorer, against the scenario)."""
    if text is None:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise DchaosError("--faults names no fault: give fault kinds or shapes, "
                          "comma-separated (e.g. --faults partition,kill_leader)")
    return names


class Explorer:
    def __init__(self, base: BaseScenario, options: ExploreOptions,
                 registry: Registry | None = None) -> None:
        if options.budget <= 0:
            raise DchaosError("--budget must be above zero (e.g. --budget 15m)")
        if options.runs is not None and options.runs < 1:
            raise DchaosError("--runs must be at least 1")
        if options.confirm < 1:
            raise DchaosError("--confirm must be at least 1")
        if options.workers < 1:
            raise DchaosError("--workers must be at least 1 (1 runs one schedule at a time)")
        if options.workers > 1 and options.run.backend != "local":
            raise DchaosError(f"--workers {options.workers} runs schedules side by side on the "
                              f"local backend only; with --backend {options.run.backend}, "
                              "use --workers 1")
        if options.workers > 1 and in_process_plugins():
            names = ", ".join(sorted({getattr(p, "__name__", type(p).__name__)
                                      for p in in_process_plugins()}))
            raise DchaosError(f"--workers {options.workers} runs schedules in worker processes, "
                              "which load plugins from the 'dchaos' entry-point group only, "
                              f"not those registered in this process ({names}); use "
                              "--workers 1, or install the plugin under that entry point")
        base.check_explorable()
        self.base = base
        self.options = options
        self.registry = registry or Registry()
        self.seed = (options.seed if options.seed is not None
                     else random.SystemRandom().randrange(1, 2**31))
        scenario = base.scenario
        #: Traitors a schedule may add (Byzantine replicas and twins together).
        self.traitors = self._byzantine_allowed()
        try:
            self.space = ScheduleSpace(scenario.node_ids, scenario.workload.duration,
                                       max_faults=options.max_faults,
                                       installed=frozenset(self.registry.faults),
                                       leader=bool(self._family().leader_role),
                                       byzantine=self.traitors,
                                       twins=self._twins_allowed(),
                                       first_leader=self._family().first_leader(scenario))
        except ValueError as exc:
            raise DchaosError(f"{base.path}: cannot explore: {exc}") from None
        family = self._family()
        #: The faults drawn, where not every one the cluster can have, and why those.
        self.faults: tuple[str, ...] = options.faults or family.explore_faults
        self.faults_why = "" if options.faults else family.explore_faults_why
        if options.faults:
            try:
                self.space = self.space.narrowed(options.faults)
            except ValueError as exc:
                raise DchaosError(f"--faults: {exc} ({scenario.protocol}, "
                                  f"{len(scenario.node_ids)} nodes)") from None
        elif family.explore_faults:
            try:
                self.space = self.space.narrowed(family.explore_faults, strict=False)
            except ValueError as exc:
                raise DchaosError(
                    f"{base.path}: cannot explore {scenario.protocol} on "
                    f"{len(scenario.node_ids)} node(s) with the faults it is explored under "
                    f"by default ({family.explore_faults_why}): {exc}; name others with "
                    "--faults (e.g. --faults kill,restart)") from None
        self.out = options.report_dir
        self.stream = options.stream or sys.stderr
        self.result = ExploreResult()
        self._started = time.monotonic()
        self._errors_in_a_row = 0
        self._shrinker: Shrinker | None = None
        self._last_number = 0
        #: Search runs in the order they finished (for the progress lines).
        self._finished: list[Tried] = []

    def _family(self) -> ProtocolFamily:
        return self.registry.protocols[self.base.scenario.protocol]

    def _byzantine_allowed(self) -> int:
        """How many replicas a schedule may make Byzantine: for a Byzantine-fault-tolerant
        family, the f its cluster tolerates (n >= 3f + 1) less the twins it already has."""
        if not self._family().twins:
            return 0
        cluster = self.base.scenario.cluster
        return max(0, (len(self.base.scenario.node_ids) - 1) // 3 - len(cluster.twins))

    def _twins_allowed(self) -> bool:
        """Whether a schedule may add a twin: the family takes twins, the scenario has
        none of its own, and f allows one more traitor. (Twins need nothing from the node,
        so a node that cannot turn Byzantine still gets them.)"""
        return (self._family().twins and not self.base.scenario.cluster.twins
                and self.traitors >= 1)

    # -- the exploration -------------------------------------------------------------

    def run(self) -> ExploreResult:
        self.out.mkdir(parents=True, exist_ok=True)
        self._say(self._heading())
        if self.base.left_out:
            self._say(f"left out: {', '.join(self.base.left_out)} (performance bounds, which "
                      "faults the scenario did not plan may rightly break)")
        if self.base.relaxed:
            self._say(f"left out: {', '.join(self.base.relaxed)} (a speed bound, which "
                      "faults the scenario did not plan may rightly break; the check is "
                      "judged with its default)")
        try:
            found = self._search()
            if found is not None:
                self._confirm(found)
                shrinker = self._shrink(found)
                self._minimal(shrinker.best, found.seed, trim=shrinker.best_trim)
        except KeyboardInterrupt as interrupt:
            self.result.interrupted = True
            self.result.interrupt = interrupt
            self.result.stopped_by = "interrupt"
            if self.result.found is not None:
                best = (self._shrinker.best if self._shrinker is not None
                        else self.result.found.faults)
                trim = self._shrinker.best_trim if self._shrinker is not None else None
                self.result.minimal = best
                self.result.minimal_trim = trim
                self._write_minimal(best, self.result.found.seed, trim=trim)
        finally:
            self._write_json()
        return self.result

    def _search(self) -> Tried | None:
        """Hand out schedules k = 1, 2, ... to free slots until the budget or ``--runs``
        ends or a run fails, and return the failing run with the lowest k: every schedule
        before it was run too, so it is the failure a search one run at a time finds,
        whichever run finished first. When run k fails, the runs under way with a lower k
        are finished (one of them may fail, and be the one found), those with a higher k
        are stopped (none of them can be)."""
        seeds = schedule_seeds(self.seed)
        deadline = self._started + self.options.budget
        handed = 0
        #: Runs finished while one with a lower k is still under way.
        waiting: dict[int, Tried] = {}
        under_way: set[int] = set()
        began: dict[int, float] = {}
        stopped: list[int] = []
        stop = ""
        pool = self._search_pool()
        try:
            while True:
                while not stop and pool.idle():
                    if time.monotonic() >= deadline:
                        stop = "budget"
                    elif self.options.runs is not None and handed >= self.options.runs:
                        stop = "runs"
                    else:
                        handed += 1
                        pool.submit(self._job(handed, next(seeds)))
                        under_way.add(handed)
                        began[handed] = time.monotonic() - self._started
                if not under_way:
                    break
                finished = pool.wait()
                under_way.difference_update(t.number for t in finished)
                for tried in finished:
                    tried.schedule = tried.number
                    tried.started = began[tried.number]
                    waiting[tried.number] = tried
                    self._finished.append(tried)
                    self._progress(tried)
                    if tried.verdict == "fail":
                        stop = "failure"
                        stopped += self._after_failure(tried.number, under_way, pool)
                while self._last_number + 1 in waiting:
                    self._record(waiting.pop(self._last_number + 1))
            # Runs after one that was stopped (three workers or more) wait for no one now.
            for number in sorted(waiting):
                self._record(waiting.pop(number))
        except KeyboardInterrupt:
            # What finished is kept: listed in explore.json, and a failure among it is
            # written to minimal.yaml as it was found (unconfirmed).
            for number in sorted(waiting):
                tried = waiting[number]
                self.result.runs.append(tried)
                self.result.coverage.add(tried.effects)
            self._found()
            raise
        finally:
            pool.close()
            self.result.stopped_runs = sorted(stopped)
            for number in stopped:  # a stopped run's folder says only that it did not run
                shutil.rmtree(self._run_dir(number), ignore_errors=True)
        found = self._found()
        self.result.stopped_by = "failure" if found is not None else stop
        return found

    def _after_failure(self, number: int, under_way: set[int], pool: SearchPool) -> list[int]:
        """Run ``number`` failed: stop the runs under way that come after it; say which
        runs are still awaited. Returns the runs stopped."""
        later = sorted(k for k in under_way if k > number)
        for k in later:
            pool.cancel(k)
            under_way.discard(k)
        earlier = sorted(under_way)
        text = f"run {number} failed: no more schedules handed out"
        if later:
            text += f"; stopped run(s) {_numbers(later)} (a later run cannot be the one found)"
        if earlier:
            text += (f"; finishing run(s) {_numbers(earlier)} under way (if one fails, it is "
                     "the one found)")
        if later or earlier:
            self._say(text)
        return later

    def _found(self) -> Tried | None:
        """The failing search run with the lowest k; the report folders of the others that
        failed are removed (those of the runs that passed already are)."""
        failing = sorted((t for t in self.result.runs if t.phase == "search"
                          and t.verdict == "fail"), key=lambda t: t.number)
        if not failing:
            return None
        for other in failing[1:]:
            if other.report_dir is not None:
                shutil.rmtree(other.report_dir, ignore_errors=True)
                other.report_dir = None
        self.result.found = failing[0]
        self.result.confirmed = (1, 1)  # the run that found it; confirming adds to it
        return failing[0]

    def _search_pool(self) -> SearchPool:
        """Where search runs happen: this process (``--workers 1``), or worker processes."""
        if self.options.workers == 1:
            return InlinePool(self._run_job)
        run = self.options.run
        size = min(self.options.workers, self.options.runs or self.options.workers)
        return ProcessPool(size, self.out / "workers", backend=run.backend,
                           toxiproxy=run.toxiproxy, toxiproxy_image=run.toxiproxy_image)

    def _job(self, number: int, seed: int) -> Job:
        """The ``number``-th schedule, validated by the scenario loader before it is handed
        out (a refused one is a bug of the generator, told before any worker sees it).

        A twin, where one is drawn, is one of the traitors f allows: the faults are then
        drawn with one Byzantine replica fewer, so no schedule has more than f."""
        twin = draw_twin(self.space, seed)
        space = self.space
        if twin is not None:
            space = replace(space, byzantine=min(space.byzantine, self.traitors - 1))
        twins = [twin] if twin is not None else []
        # A twin takes the one traitor f allows: where --faults names only traitors, the
        # twin is the whole schedule.
        generated = generate(space, seed) if twin is None or space.usable_shapes() else []
        faults = [f.entry for f in generated]
        self.base.scenario_with(faults, seed, twins=twins)
        # The schedule as a file in the run's folder: the run's report names it, and its
        # rerun command runs it (the folder stays if the run fails, and goes if it passes).
        text = self.base.text(faults, seed, twins=twins)
        folder = self._run_dir(number)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SCHEDULE_FILE).write_text(text)
        return Job(number=number, seed=seed, faults=faults, shapes=[f.shape for f in generated],
                   text=text, where=str(folder / SCHEDULE_FILE), report_dir=str(folder),
                   twins=twins)

    def _run_job(self, job: Job) -> Tried:
        """A search job run in this process (``--workers 1``)."""
        scenario = self.base.scenario_with(job.faults, job.seed, path=job.where,
                                           twins=job.twins)
        options = replace(self.options.run, seed=job.seed, report_dir=Path(job.report_dir),
                          node_command=None, node_image=None)
        tried, _ = self._attempt(scenario, options, job.number, "search", job.seed,
                                 job.faults, job.shapes)
        tried.twins = job.twins
        return tried

    def _confirm(self, found: Tried) -> None:
        """Rerun the found schedule; ``confirmed`` counts as it goes, so an exploration
        interrupted while confirming tells the runs it judged."""
        for _ in range(self.options.confirm - 1):
            tried = self._run(found.faults, found.seed, "confirm", found.shapes,
                              twins=found.twins)
            tried.schedule = found.schedule
            failed, judged = self.result.confirmed
            self.result.confirmed = (failed + self._same_failure(tried, found), judged + 1)
            self._say(f"confirm {judged + 1}/{self.options.confirm}: {tried.verdict}")
            self._write_json()

    def _same_failure(self, tried: Tried, found: Tried) -> bool:
        """A failure of at least one check that failed in the found run (another check
        failing is another bug, not this one)."""
        return tried.verdict == "fail" and bool(set(tried.failed_checks)
                                                & set(found.failed_checks))

    def _shrink(self, found: Tried) -> Shrinker:
        failed, judged = self.result.confirmed
        deterministic = failed == judged
        budget = self.options.shrink_budget or self.options.budget
        deadline = time.monotonic() + budget
        #: Set when the budget ended between the reruns of a candidate: it was not judged.
        cut_short: list[bool] = []

        def out_of_time(rerun: int) -> bool:
            # The first run of a candidate is always made (the budget is checked before
            # each candidate); the others only while the budget lasts, so a candidate of
            # several confirming runs overruns it by one run at most.
            if rerun > 0 and time.monotonic() >= deadline:
                cut_short.append(True)
                return True
            return False

        def still_fails(candidate: Sequence[FaultEntry]) -> bool:
            # A failure seen every time must hold in every rerun; a flaky one holds if any
            # rerun shows it.
            shapes = _shapes_of(candidate, found)
            for rerun in range(self.options.confirm):
                if out_of_time(rerun):
                    return False
                tried = self._run(list(candidate), found.seed, "shrink", shapes,
                                  twins=found.twins)
                fails = self._same_failure(tried, found)
                if fails != deterministic:
                    return fails
            return deterministic

        def still_fails_trimmed(candidate: Sequence[FaultEntry], trim: Trim) -> bool:
            try:
                self.base.scenario_with(candidate, found.seed, trim=trim, twins=trim.twins)
            except ScenarioError as exc:
                self._say(f"shrink: a run of {trim.nodes} node(s), {trim.clients} client(s) "
                          f"is no scenario ({exc.message}): kept as it was")
                return False
            shapes = _shapes_of(candidate, found)
            for rerun in range(self.options.confirm):
                if out_of_time(rerun):
                    return False
                tried = self._run(list(candidate), found.seed, "shrink", shapes, trim=trim,
                                  twins=trim.twins)
                fails = self._same_failure(tried, found)
                if fails != deterministic:
                    return fails
            return deterministic

        def on_step(step: ShrinkStep) -> None:
            self.result.steps.append(step)
            self.result.minimal = shrinker.best
            self.result.minimal_trim = shrinker.best_trim
            mark = ("kept" if step.still_fails else
                    "not judged, the shrink budget ended" if cut_short else "passes")
            self._say(f"shrink: {step.action} {step.detail}: {mark} "
                      f"({len(shrinker.best)} fault(s) now)")
            self._write_json()

        shrinker = Shrinker(found.faults, still_fails, on_step=on_step,
                            should_stop=lambda: time.monotonic() >= deadline,
                            trim=self._trim(found), still_fails_trimmed=still_fails_trimmed)
        self._shrinker = shrinker
        outcome = shrinker.run()
        self.result.minimal = outcome.faults
        self.result.minimal_trim = outcome.trim
        self.result.shrink_complete = outcome.complete
        return shrinker

    def _trim(self, found: Tried) -> Trim:
        """The run's size as the scenario has it, the schedule's twins, and the fewest
        nodes a trimmed run may have: a Byzantine replica (or twin) needs 3f + 1 of them."""
        scenario = self.base.scenario
        byzantine = traitors(found.faults) + len(scenario.cluster.twins) + len(found.twins)
        return Trim(scenario.workload.duration, scenario.workload.clients,
                    len(scenario.node_ids), min_nodes=3 * byzantine + 1 if byzantine else 1,
                    twins=tuple(found.twins))

    def _minimal(self, faults: list[FaultEntry], seed: int, trim: Trim | None = None) -> None:
        """Write ``minimal.yaml`` and run it as written, from the file, into
        ``DIR/minimal-run/``: the proof that it is an ordinary scenario that fails."""
        path = self._write_minimal(faults, seed, trim=trim)
        scenario = load_scenario(path, self.registry)
        target = self.out / "minimal-run"
        shutil.rmtree(target, ignore_errors=True)
        options = replace(self.options.run, seed=None, report_dir=target, node_command=None,
                          node_image=None)
        tried, _ = self._attempt(scenario, options, 0, "minimal", seed, faults,
                                 _shapes_of(faults, self.result.found))
        tried.twins = self._twins_of(trim)
        tried.report_dir = str(target)
        self.result.minimal_run = tried

    def _write_minimal(self, faults: list[FaultEntry], seed: int,
                       trim: Trim | None = None) -> Path:
        found = self.result.found
        assert found is not None
        path = self.out / "minimal.yaml"
        failed, judged = self.result.confirmed
        name = f"{self.base.scenario.name}-minimal"
        description = (
            f"Found by dchaos explore from {self.base.path} (exploration seed {self.seed}, "
            f"run {found.number}): {', '.join(found.failed_checks)} failed with "
            f"{len(found.faults)} generated fault(s){_with_twins(found.twins)}, in {failed} "
            f"of {judged} runs; shrunk to the {len(faults)} below"
            f"{_with_twins(self._twins_of(trim))}{moved_text(self.result.steps)}"
            f"{_trimmed(self.base.scenario, trim)}.")
        path.write_text(self.base.text(faults, seed, name=name, description=description,
                                       trim=trim, twins=self._twins_of(trim)),
                        encoding="utf-8")
        self.result.minimal_path = path
        return path

    def _twins_of(self, trim: Trim | None) -> list[FaultEntry]:
        """The twins the minimal schedule keeps: the shrunk run's, else the found one's."""
        if trim is not None:
            return list(trim.twins)
        return list(self.result.found.twins) if self.result.found is not None else []

    # -- one run ---------------------------------------------------------------------

    def _run(self, faults: list[FaultEntry], seed: int, phase: Phase,
             shapes: list[str], trim: Trim | None = None,
             twins: Sequence[FaultEntry] = ()) -> Tried:
        """A run of confirming or shrinking, in this process, recorded."""
        number = self._last_number + 1
        target = self._run_dir(number)
        scenario = self.base.scenario_with(faults, seed, trim=trim, twins=twins)
        options = replace(self.options.run, seed=seed, report_dir=target, node_command=None,
                          node_image=None)
        began = time.monotonic() - self._started
        tried, _ = self._attempt(scenario, options, number, phase, seed, faults, shapes)
        tried.twins = list(twins)
        tried.started = began
        self._record(tried)
        return tried

    def _run_dir(self, number: int) -> Path:
        return self.out / "runs" / f"{number:04d}"

    def _record(self, tried: Tried) -> None:
        """Add a finished run to the exploration, in the order of run numbers: its report
        folder is kept only if it is a search run that failed."""
        self._last_number = tried.number
        target = self._run_dir(tried.number)
        if tried.refused:
            # A node that implements no (or not this) Byzantine behaviour: explore without
            # (its agent can still make it a traitor).
            if self.space.behaviours:
                self.space = replace(self.space, behaviours=False)
                if not self.space.usable_shapes():
                    raise DchaosError(f"run {tried.number}: {tried.detail}; and the faults "
                                      f"drawn ({', '.join(self.faults)}) leave no other "
                                      "to draw (add mutate or replay to --faults: its agent "
                                      "makes those traitors)")
                self._say(f"run {tried.number}: {tried.detail}; no Byzantine behaviours "
                          "from now on")
            self.result.runs.append(tried)
            return
        if tried.verdict == "error":
            self._errors_in_a_row += 1
            self.result.runs.append(tried)
            if self._errors_in_a_row >= MAX_ERRORS or tried.number == 1:
                raise DchaosError(f"the scenario could not run (run {tried.number}): "
                                  f"{tried.detail}") from None
            return
        self._errors_in_a_row = 0
        self.result.coverage.add(tried.effects)
        if tried.verdict == "pass" or tried.phase != "search":
            shutil.rmtree(target, ignore_errors=True)  # kept: the found run, the minimal
        else:
            tried.report_dir = str(target)
        self.result.runs.append(tried)
        self._write_json()  # after every run: what a killed exploration leaves is current

    def _attempt(self, scenario: Scenario, options: RunOptions, number: int, phase: Phase,
                 seed: int, faults: list[FaultEntry], shapes: list[str]
                 ) -> tuple[Tried, RunResult | None]:
        """One run in this process, told as a :class:`Tried`; the result too, unless it
        could not run."""
        return attempt(scenario, options, self.registry, number, phase, seed, faults, shapes)

    # -- output ----------------------------------------------------------------------

    def _say(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self.stream.write(f"[{elapsed:6.1f}s] {text}\n")
        self.stream.flush()

    def _heading(self) -> str:
        """What is explored and how, said first: with a drawn seed, how to search again."""
        scenario = self.base.scenario
        options = self.options
        drawn = "" if options.seed is not None else " (drawn; --seed repeats this search)"
        runs = f", at most {options.runs} run(s)" if options.runs is not None else ""
        faults = ""
        if options.faults:
            faults = f" (only {', '.join(options.faults)})"
        elif self.faults:
            faults = (f" (only {', '.join(self.faults)}: {self.faults_why}; --faults "
                      "names others)")
        return (f"exploring {scenario.name} ({scenario.protocol}, {scenario.cluster.nodes} "
                f"nodes, {options.run.backend} backend): seed {self.seed}{drawn}, budget "
                f"{format_duration(options.budget)}{runs}, up to {options.max_faults} "
                f"fault(s) a schedule{faults}; checks: "
                f"{', '.join(c.name for c in scenario.checks)}; report: {self.out}")

    def _progress(self, tried: Tried) -> None:
        searched = self._finished
        failures = sum(t.verdict == "fail" for t in searched)
        shapes = sorted({s for t in searched for s in t.shapes})
        what = ", ".join(tried.shapes + [f"twin of {t['node']}" for t in tried.twins]) \
            or "no faults"
        verdict = tried.verdict.upper()
        if tried.failed_checks:
            verdict += f" ({', '.join(tried.failed_checks)})"
        where = f" (worker {tried.worker})" if tried.worker is not None else ""
        self._say(f"run {tried.number}{where}: {verdict} in {tried.seconds:.1f}s [{what}] — "
                  f"runs {len(searched)}, failures {failures}, "
                  f"shapes tried {len(shapes)}/{len(self.space.usable_shapes())}")

    def _write_json(self) -> None:
        result = self.result
        failed, judged = result.confirmed
        data: dict[str, Any] = {
            "scenario": self.base.path,
            "seed": self.seed,
            "budget_s": self.options.budget,
            "confirm": self.options.confirm,
            "workers": self.options.workers,
            "faults": list(self.faults),
            # Why the family draws only these (None: all, or as --faults named).
            "faults_why": self.faults_why or None,
            "stopped_by": result.stopped_by,
            "interrupted": result.interrupted,
            "shapes": list(self.space.usable_shapes()),
            "runs": [t.to_json() for t in result.runs],
            "stopped_runs": result.stopped_runs,
            "found": None if result.found is None else {
                "run": result.found.number,
                "schedule": result.found.schedule,
                "failed_checks": result.found.failed_checks,
                "detail": result.found.detail,
                "faults": result.found.faults,
                "twins": result.found.twins,
                "confirmed": {"failed": failed, "runs": judged,
                              "rate": round(failed / judged, 3) if judged else None,
                              "flaky": result.flaky},
                "report_dir": result.found.report_dir,
            },
            "shrink": {
                "complete": result.shrink_complete,
                "steps": [s.to_json() for s in result.steps],
                "minimal": result.minimal,
                "run": None if result.minimal_trim is None else result.minimal_trim.to_json(),
            },
            "minimal": None if result.minimal_path is None else {
                "path": str(result.minimal_path),
                "rerun": None if result.minimal_run is None else result.minimal_run.to_json(),
            },
            "coverage": result.coverage.to_json(),
        }
        tmp = self.out / "explore.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.out / "explore.json")

    def summary(self) -> str:
        """What a person reads at the end."""
        result = self.result
        searched = sum(t.phase == "search" for t in result.runs)
        lines = [f"dchaos explore {self.base.path}: {len(result.runs)} run(s) "
                 f"({searched} schedule(s) searched) in "
                 f"{time.monotonic() - self._started:.0f}s, seed {self.seed}"]
        if result.interrupted:
            lines.append("  interrupted: the run under way was stopped; what was found so "
                         "far is written")
        found = result.found
        if found is None:
            lines.append(f"  no failure found (stopped by {result.stopped_by or 'interrupt'})")
        else:
            lines.append(f"  found: run {found.number} failed "
                         f"{', '.join(found.failed_checks)} with {len(found.faults)} "
                         f"fault(s){_with_twins(found.twins)}: {found.detail}")
            failed, judged = result.confirmed
            if judged:
                rate = f"{failed}/{judged} runs failed ({failed / judged:.0%})"
                lines.append(f"  {'FLAKY' if result.flaky else 'confirmed'}: {rate}")
            if result.minimal is not None:
                state = "complete" if result.shrink_complete else "stopped early"
                lines.append(f"  shrunk: {len(found.faults)} -> {len(result.minimal)} "
                             f"fault(s) in {len(result.steps)} step(s) ({state})")
            if result.minimal_path is not None:
                lines.append(f"  minimal: {result.minimal_path}")
                for entry in result.minimal or []:
                    lines.append(f"    - {json.dumps(entry)}")
                for twin in self._twins_of(result.minimal_trim):
                    lines.append(f"    twin: {json.dumps(twin)}")
            if result.minimal_run is not None:
                rerun = result.minimal_run
                lines.append(f"  minimal.yaml rerun: {rerun.verdict.upper()}"
                             + (f" ({', '.join(rerun.failed_checks)})"
                                if rerun.failed_checks else "")
                             + f"; report: {rerun.report_dir}")
                lines.append(f"  rerun it: dchaos run {result.minimal_path} --backend "
                             f"{self.options.run.backend}")
        lines.append(f"  every schedule tried: {self.out / 'explore.json'}")
        lines.append(result.coverage.table())
        return "\n".join(lines)


def _trimmed(scenario: Scenario, trim: Trim | None) -> str:
    """What trimming changed, for minimal.yaml's description ('' if nothing)."""
    if trim is None:
        return ""
    changes = [f"{what} {was:g} -> {now:g}" for what, was, now in (
        ("workload seconds", scenario.workload.duration, trim.duration),
        ("clients", scenario.workload.clients, trim.clients),
        ("nodes", len(scenario.node_ids), trim.nodes)) if abs(was - now) > 1e-9]
    return f", the run trimmed ({', '.join(changes)})" if changes else ""


def _with_twins(twins: Sequence[FaultEntry]) -> str:
    """' and a twin of n1 (sees n3, n4, reorder 50ms)', for the texts that count faults."""
    return "".join(f" and a twin of {t['node']} (sees {', '.join(t['sees'])}"
                   f"{', reorder ' + str(t['reorder']) if t.get('reorder') else ''})"
                   for t in twins)


def _shapes_of(faults: Sequence[FaultEntry], found: Tried | None) -> list[str]:
    """The shapes of a subset of the found schedule's faults (shortened or moved: a fault
    is known by what it does, not by when or for how long)."""
    if found is None:
        return [fault_kind(f) for f in faults]
    timing = ("at", "duration")
    by_what = {json.dumps({k: v for k, v in f.items() if k not in timing}, sort_keys=True): s
               for f, s in zip(found.faults, found.shapes, strict=True)}
    return [by_what.get(json.dumps({k: v for k, v in f.items() if k not in timing},
                                   sort_keys=True), fault_kind(f)) for f in faults]


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, numbers))


def schedule_seeds(seed: int) -> Iterator[int]:
    """The seeds of an exploration's schedules, k = 1, 2, ...: the k-th depends on the
    exploration seed and k alone."""
    master = random.Random(f"dchaos-explore-run:{seed}")
    while True:
        yield master.randrange(1, 2**31)


__all__ = ["ExploreOptions", "ExploreResult", "Explorer", "Tried", "Verdict", "fault_names",
           "schedule_seeds"]
