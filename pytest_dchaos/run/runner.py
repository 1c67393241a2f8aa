"""One run of a scenario, composed in one place.

validate → expand the fault schedule → provision (backend) → start nodes → workload with
faults and monitors → stop the workload → heal → final phase (recovery, final reads) →
node states → tear down → judge (checkers) → report. Everything the run started is stopped
on every path out of it: success, a failed check, an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import gc
import random
import re
import shlex
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_dchaos.backends.base import Backend
from pytest_dchaos.checkers import transport
from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.extensions import STATE
from pytest_dchaos.cluster.network import BASELINE
from pytest_dchaos.cluster.running import Cluster, ClusterPlan
from pytest_dchaos.errors import DchaosError
from pytest_dchaos.families.base import LiveRun, Monitor, ProtocolFamily, RunContext
from pytest_dchaos.record import report
from pytest_dchaos.record.history import History
from pytest_dchaos.record.result import IncidentRecord, RunRecord, RunResult, Verdict
from pytest_dchaos.record.stats import Sent, message_counts, msgs_per_op, op_stats
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.nemesis import Firing, Nemesis, expand
from pytest_dchaos.run.progress import Progress
from pytest_dchaos.run.workload import WorkloadRunner
from pytest_dchaos.scenario.loader import load_scenario
from pytest_dchaos.scenario.model import CheckSpec, Implementation, NetworkSpec, Scenario
from pytest_dchaos.scenario.schema import ParseContext
from pytest_dchaos.scenario.yamlsource import YNode

#: Checked in every run unless the scenario lists it itself.
ALWAYS_CHECKED = ("node_contract",)
STATE_TIMEOUT = 3.0


@dataclass
class RunOptions:
    """How to run a scenario; each has a CLI flag and a pytest option."""

    backend: str = "local"
    seed: int | None = None
    #: The report folder itself; an existing one is reused (its old results removed first).
    report_dir: Path | None = None
    #: Without ``report_dir``: where the run makes a folder of its own,
    #: ``<report_name>-<time>-<run id>`` (default ``dchaos-reports``), so no two runs share
    #: one and no run's folder holds another's verdicts.
    report_root: Path | None = None
    #: The first part of that folder's name (default: the scenario's name).
    report_name: str | None = None
    node_command: tuple[str, ...] | None = None
    #: A Docker image to run as every node (with ``node_command``, or the image's own).
    node_image: str | None = None
    toxiproxy: str | None = None
    #: Leave the cluster running when a check failed (backends that can: docker).
    keep: bool = False
    #: The Toxiproxy image for container backends (default: the official one, else ours).
    toxiproxy_image: str | None = None
    progress: Progress | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


def rerun_flags(options: RunOptions) -> tuple[str, ...]:
    """The ``dchaos run`` flags that say what ran beyond the scenario file."""
    flags: list[str] = []
    if options.node_command:
        flags += ["--node-command", shlex.join(options.node_command)]
    if options.node_image:
        flags += ["--node-image", options.node_image]
    if options.toxiproxy:
        flags += ["--toxiproxy", options.toxiproxy]
    if options.toxiproxy_image:
        flags += ["--toxiproxy-image", options.toxiproxy_image]
    return tuple(flags)


def default_report_dir(name: str, run_id: str, root: Path | None = None) -> Path:
    """``root/<name>-<time>-<run id>``: a folder no other run uses."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "run"
    return (root or Path("dchaos-reports")) / f"{safe}-{stamp}-{run_id}"


def resolve_seed(scenario: Scenario, options: RunOptions) -> int:
    if options.seed is not None:
        return options.seed
    if scenario.seed is not None:
        return scenario.seed
    return random.SystemRandom().randrange(1, 2**31)


def run_path(path: str | Path, options: RunOptions | None = None,
             registry: Registry | None = None) -> RunResult:
    """Load the scenario at ``path`` and run it."""
    registry = registry or Registry()
    return run_scenario(load_scenario(path, registry), options, registry)


def run_scenario(scenario: Scenario, options: RunOptions | None = None,
                 registry: Registry | None = None) -> RunResult:
    """Run ``scenario`` and judge it. Raises :class:`DchaosError` if it could not run."""
    options = options or RunOptions()
    registry = registry or Registry()
    run = Run(scenario, options, registry)
    return run.execute()


class Run:
    def __init__(self, scenario: Scenario, options: RunOptions, registry: Registry) -> None:
        if options.node_command or options.node_image:
            scenario = scenario.with_implementation(
                Implementation(command=options.node_command, image=options.node_image))
        self.registry = registry
        self.options = options
        self.seed = resolve_seed(scenario, options)
        self.scenario = scenario.with_seed(self.seed)
        self.family: ProtocolFamily = registry.protocols[scenario.protocol]
        self.run_id = uuid.uuid4().hex[:8]
        self.report_dir = Path(options.report_dir or default_report_dir(
            options.report_name or scenario.name, self.run_id, options.report_root))
        self.progress = options.progress or Progress.silent()
        self.checks = self._checks()
        # Draw the whole schedule before anything starts: bad input fails fast, and the
        # same seed gives the same schedule.
        self.firings: list[Firing] = expand(self.scenario, registry.faults, self.seed)
        self.observations: dict[str, Any] = {}
        self.phases: dict[str, float] = {}
        #: Node-to-node messages the trace shows sent and never arriving nor dropped.
        self._vanished: list[Sent] = []

    def _checks(self) -> list[CheckSpec]:
        checks = list(self.scenario.checks)
        listed = {c.name for c in checks}
        node = YNode(None, 0, 0, self.scenario.path or "<scenario>")
        ctx = ParseContext(nodes=self.scenario.node_ids)
        for name in ALWAYS_CHECKED:
            if name not in listed and name in self.registry.checkers:
                checker = self.registry.checkers[name]
                options = checker.build(checker.options.parse(node, name, ctx), node, ctx)
                checks.append(CheckSpec(name, options, 0))
        return checks

    def command(self) -> tuple[str, ...]:
        """The node command; empty for an image's own entrypoint and command."""
        impl = self.scenario.cluster.implementation
        if impl.command:
            return impl.command
        return () if impl.image else self.family.reference_command()

    def plan(self) -> ClusterPlan:
        scenario = self.scenario
        cluster = scenario.cluster
        twins = {t.member: t.node for t in cluster.twins}
        return ClusterPlan(
            run_id=self.run_id,
            node_ids=cluster.members,
            command=self.command(),
            workdir=(self.report_dir / "nodes").resolve(),
            seed=self.seed,
            start_timeout=scenario.cluster.start_timeout,
            image=scenario.cluster.implementation.image,
            init_extra={m: self.family.init_extra(scenario, cluster.identity(m), self.seed)
                        for m in cluster.members},
            env=dict(self.options.extra_env),
            toxiproxy=self.options.toxiproxy,
            reference=scenario.cluster.implementation.is_reference,
            keep=self.options.keep,
            toxiproxy_image=self.options.toxiproxy_image,
            identities=twins,
            peer_map={m: cluster.peers(m) for m in cluster.members} if twins else {},
            client_holdback={t.member: t.reorder for t in cluster.twins if t.reorder},
            placement=cluster.constraints(),
        )

    def execute(self) -> RunResult:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        # A report folder used again starts clean: nodes keep state in their folders (a
        # write-ahead or event log), and a previous run's must not become this run's past;
        # nor may its verdicts pass for this run's if this one never gets to judge.
        shutil.rmtree(self.report_dir / "nodes", ignore_errors=True)
        report.clear(self.report_dir)
        try:
            result = self._execute()
        except BaseException as exc:
            with contextlib.suppress(OSError):  # the run's own error is what to report
                report.not_run(self.report_dir, self.scenario.name, self.run_id, self.seed,
                               self.options.backend, _why(exc))
            raise
        self.progress.finish(result)
        self.registry.hook.dchaos_run_finished(result=result)
        return result

    def _execute(self) -> RunResult:
        self.registry.hook.dchaos_run_started(scenario=self.scenario, run_id=self.run_id,
                                              report_dir=self.report_dir)
        backend = self.registry.backend(self.options.backend)
        notes = self.family.notes(self.scenario, self.firings) + _backend_notes(
            self.scenario, backend)
        self.progress.begin(self.scenario, self.seed, self.options.backend, self.report_dir,
                            self.firings, self.command(), notes)
        started = time.monotonic()
        cluster = backend.provision(self.plan())
        verdicts: list[Verdict] | None = None
        kept = False
        try:
            record = self._drive(cluster, started)
            if self.options.keep:
                # Judge while the cluster is up, to keep it if a check failed.
                verdicts = self._judge(record)
                if any(v.failed for v in verdicts):
                    kept = self._keep(cluster)
        finally:
            if not kept:
                self.progress.phase("stopping the cluster")
                cluster.close()
        if verdicts is None:
            verdicts = self._judge(record)
        lost = transport.note(record, self._vanished)
        if lost:
            notes = [*notes, lost]
        result = RunResult(
            scenario=self.scenario.name,
            passed=not any(v.failed for v in verdicts),
            seed=self.seed,
            checks=verdicts,
            stats=self._stats(record),
            run_id=self.run_id,
            report_dir=self.report_dir,
            backend=self.options.backend,
            scenario_path=self.scenario.path,
            record=record,
            notes=notes,
            rerun_flags=rerun_flags(self.options),
        )
        report.write(result, record, self.firings, self.family.artifacts,
                     self.family.report_lanes)
        return result

    def _keep(self, cluster: Cluster) -> bool:
        """Leave a failed cluster running for inspection, if the backend can."""
        instructions = cluster.detach()
        if instructions is None:
            self.progress.info(f"--keep: the {self.options.backend} backend's processes end "
                               "with the harness, so the cluster is stopped")
            return False
        self.progress.info(instructions)
        return True

    def _drive(self, cluster: Cluster, started: float) -> RunRecord:
        scenario = self.scenario
        self._baseline_network(cluster)
        self.family.setup(cluster, scenario)
        self.progress.phase(f"starting {len(scenario.node_ids)} nodes "
                            f"({scenario.cluster.implementation.describe()})")
        cluster.start()
        self.phases["startup_s"] = round(time.monotonic() - started, 3)
        self.progress.phase(f"cluster ready in {self.phases['startup_s']:.2f}s")

        history = History()
        needs = frozenset().union(*(self.registry.checkers[c.name].needs for c in self.checks))
        monitors = MonitorRunner(cluster, self.family.monitors(scenario, needs), history.now,
                                 self.observations)
        clients = self.family.workload(scenario, self.seed)
        workload = WorkloadRunner(cluster, clients, scenario.workload, history, self.seed)
        live = LiveRun(cluster, scenario, history, clients)
        nemesis = Nemesis(cluster, self.firings, history.now,
                          leader=lambda: self.family.leader(live))
        # Everything alive now (the interpreter, pytest, the scenario, the cluster) outlives
        # the workload: left out of the garbage collector's full passes, which otherwise
        # walk it all and stall every client for tens of milliseconds a time.
        gc.freeze()
        try:
            monitors.start()
            workload.start()
            nemesis.start()
            self.progress.workload(history, workload, nemesis, scenario.workload.duration)
            while history.now() < scenario.workload.duration and nemesis.error is None:
                time.sleep(min(0.2, max(0.0, scenario.workload.duration - history.now())))
                self.progress.tick()
        finally:
            workload.stop()
            nemesis.stop()
            gc.unfreeze()
        if nemesis.error is not None:
            monitors.stop()
            raise nemesis.error
        self.phases["workload_end"] = history.now()
        healed = nemesis.heal(final=True)
        self.phases["healed"] = history.now()
        self.progress.phase("workload done" + (f"; healed {', '.join(healed)}" if healed else ""))

        ctx = RunContext(cluster, scenario, history, history.now, self.observations, self.seed,
                         self.firings, clients, list(nemesis.timeline))
        self.phases["final_start"] = history.now()
        self.progress.phase(f"final phase (recovery up to {scenario.workload.recovery:g}s)")
        self.family.final(ctx)
        self.phases["final_end"] = history.now()
        monitors.stop()
        states = collect_states(cluster)
        down = frozenset(n for n in scenario.node_ids if cluster.status(n) == "down")
        cluster.flush_traces()
        return RunRecord(
            scenario=scenario,
            seed=self.seed,
            history=history,
            faults=list(nemesis.timeline),
            nodes=scenario.node_ids,
            down_at_end=down,
            observations=self.observations,
            node_states=states,
            extensions=dict(cluster.extensions),
            incidents=[IncidentRecord(i.time - history.t0, i.node, i.kind, i.detail)
                       for i in cluster.incidents],
            phases=self.phases,
            trace_files=[cluster.node_dir(n) / "trace.jsonl" for n in scenario.cluster.members],
            node_dirs={n: cluster.node_dir(n) for n in scenario.cluster.members},
        )

    def _baseline_network(self, cluster: Cluster) -> None:
        apply_baseline(cluster, self.scenario.network)

    def _judge(self, record: RunRecord) -> list[Verdict]:
        """Count the trace's messages and run every check."""
        self._vanished = []
        record.messages = message_counts(record.trace(), self.scenario.node_ids,
                                         self._vanished)
        self.progress.phase("checking")
        verdicts = []
        offered = frozenset().union(*record.extensions.values())
        for spec in self.checks:
            checker = self.registry.checkers[spec.name]
            unoffered = sorted(checker.requires - offered)
            if unoffered:
                verdicts.append(unjudged(spec, checker, unoffered))
                continue
            try:
                verdict = checker.check(spec.options, record)
            except Exception as exc:  # a checker bug must not hide the other verdicts
                log = self.report_dir / "checker-errors.log"
                with open(log, "a", encoding="utf-8") as out:
                    out.write(f"--- {spec.name}\n{traceback.format_exc()}\n")
                verdict = Verdict(spec.name, "fail",
                                  f"the checker itself failed ({type(exc).__name__}: {exc}); "
                                  f"this is a bug in the checker, see {log}",
                                  evidence=checker.evidence)
                verdicts.append(verdict)
                continue
            verdicts.append(expected(spec, verdict))
        return verdicts

    def _stats(self, record: RunRecord) -> dict[str, Any]:
        stats: dict[str, Any] = op_stats(record.history)
        stats["msgs_per_op"] = msgs_per_op(record.messages, record.history)
        stats["messages"] = {k: v for k, v in record.messages.items() if k != "by_type"}
        stats["messages_by_type"] = record.messages.get("by_type", {})
        stats["phases_s"] = {k: round(v, 3) for k, v in record.phases.items()}
        stats["nodes"] = len(record.nodes)
        stats.update(self.family.stats(record))
        return stats


def _backend_notes(scenario: Scenario, backend: Backend) -> list[str]:
    """What the scenario asks that this backend leaves aside, said rather than dropped."""
    if scenario.cluster.placement and not backend.places_nodes:
        return [f"cluster.placement is ignored: the {backend.name} backend runs every node "
                "on this machine (placement is for --backend swarm)"]
    return []


def _why(exc: BaseException) -> str:
    """Why a run ended before its verdicts, in the words a user is shown."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C or SIGTERM); every node and proxy of the run was stopped"
    if isinstance(exc, DchaosError):
        return str(exc)
    return f"the harness failed ({type(exc).__name__}: {exc}); this is a bug in the harness"


def unjudged(spec: CheckSpec, checker: CheckerType[Any], unoffered: list[str]) -> Verdict:
    """A check whose evidence no node offers: not applicable, or failed if the scenario
    requires it to be judged."""
    what = ", ".join(unoffered)
    if spec.required:
        return checker.verdict(False, f"required, but no node offers {what} (none lists it "
                               "in init_ok), so it cannot be judged")
    return checker.not_applicable(f"no node offers {what} (none lists it in init_ok), which "
                                  "this check judges from")


def expected(spec: CheckSpec, verdict: Verdict) -> Verdict:
    """A check the scenario expects to fail (``expect: fail``) passes when it fails. One
    that was not judged (not applicable, unknown) stays as it is: it caught nothing."""
    if spec.expect != "fail" or verdict.status not in ("pass", "fail"):
        return verdict
    if verdict.status == "pass":
        return replace(verdict, status="fail",
                       detail=f"expected to catch a violation here, but passed: "
                              f"{verdict.detail}")
    return replace(verdict, status="pass",
                   detail=f"caught the violation this scenario demonstrates: {verdict.detail}")


def apply_baseline(cluster: Cluster, network: NetworkSpec) -> None:
    """The network's steady state: baseline latency on every link (per-link overrides)."""
    overridden: set[tuple[str, str]] = set()
    for override in network.links:
        cluster.network.set_latency(BASELINE, override.links, override.latency,
                                    override.jitter)
        overridden |= override.links
    rest = cluster.network.links - overridden
    cluster.network.set_latency(BASELINE, rest, network.latency, network.jitter)
    cluster.services.set_latency(network.latency, network.jitter)


class MonitorRunner:
    """Runs a family's monitors on one thread, each at its own interval."""

    def __init__(self, cluster: Cluster, monitors: list[Monitor], clock: Callable[[], float],
                 observations: dict[str, Any]) -> None:
        self.cluster, self.monitors, self.clock = cluster, monitors, clock
        self.observations = observations
        for monitor in monitors:
            observations.setdefault(monitor.name, [])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitors", daemon=True)

    def start(self) -> None:
        if self.monitors:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        due = dict.fromkeys(range(len(self.monitors)), 0.0)
        while not self._stop.is_set():
            now = self.clock()
            for index, monitor in enumerate(self.monitors):
                if now >= due[index]:
                    due[index] = now + monitor.interval
                    try:
                        sample = monitor.sample(self.cluster, now)
                    except DchaosError:
                        continue  # a node that cannot answer now gives no sample
                    self.observations[monitor.name].append(sample)
            self._stop.wait(max(0.01, min(due.values()) - self.clock()))


def collect_states(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Ask every running node that reports its state (it listed ``dchaos_state`` in
    ``init_ok``) for it at once; silent nodes are left out."""
    return cluster.ask_all(cluster.offering(STATE), {"type": STATE},
                           reply_type="dchaos_state_ok", timeout=STATE_TIMEOUT)
