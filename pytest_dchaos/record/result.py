"""What a run leaves behind: the record checkers judge, their verdicts, and the result.

Checkers read a :class:`RunRecord` and nothing else — no backend, no fault layer — and the
report folder holds everything a record is made of (history, trace, fault timeline,
observations, states). Rebuilding a record from a folder to judge it again offline is not
offered yet; what the summary and the page show is (``dchaos report``, and the
``from_json`` readers here, which take a folder written before a field existed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pytest_dchaos.record.history import History
from pytest_dchaos.scenario.model import Scenario

T = TypeVar("T")

#: What a line of the fault timeline says happened to a fault.
FaultAction = Literal["start", "end", "error"]
#: What a fault does, as checkers read it from the timeline (see ``FaultType.effect``).
Effect = Literal["cut", "lossy", "slow", "crash", "pause", "restart", "byzantine", "other"]


#: A check's verdict: ``unknown`` when it could not decide (e.g. a search over its budget),
#: ``not_applicable`` when the run offers none of the evidence it judges from.
Status = Literal["pass", "fail", "not_applicable", "unknown"]
#: What a verdict rests on: what the harness saw itself (the client history, the message
#: trace its agents carried, the process and fault events it caused), what the nodes say
#: about themselves (``dchaos_state``, event logs, ``members``), or both, cross-checked.
EvidenceKind = Literal["observed", "reported", "both"]


@dataclass(frozen=True)
class Verdict:
    """One checker's judgement: its status, why, what it rests on, and the operations,
    nodes and times a person can follow (``witness``)."""

    name: str
    status: Status
    detail: str
    witness: Mapping[str, Any] = field(default_factory=dict)
    figures: Mapping[str, Any] = field(default_factory=dict)
    evidence: EvidenceKind = "observed"

    @property
    def passed(self) -> bool | None:
        """True for pass, False for fail, None when it was not judged."""
        return {"pass": True, "fail": False}.get(self.status)

    @property
    def failed(self) -> bool:
        """A fail, or an undecided check: either makes the run fail."""
        return self.status in ("fail", "unknown")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "passed": self.passed,
                "evidence": self.evidence, "detail": self.detail,
                "witness": dict(self.witness), "figures": dict(self.figures)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """A verdict as ``result.json`` holds it; raises ``ValueError`` on a malformed one."""
        status = data.get("status")
        if status not in ("pass", "fail", "not_applicable", "unknown"):
            raise ValueError(f"a check's status is {status!r}")
        evidence = data.get("evidence", "observed")
        if evidence not in ("observed", "reported", "both"):
            raise ValueError(f"a check's evidence is {evidence!r}")
        return cls(name=_text(data, "name"), status=status, detail=str(data.get("detail", "")),
                   witness=_mapping(data.get("witness")), figures=_mapping(data.get("figures")),
                   evidence=evidence)


@dataclass(frozen=True)
class FaultEvent:
    """A line of the fault timeline: a fault started, ended, or could not be applied."""

    time: float  # seconds since the workload started
    action: FaultAction
    key: str
    kind: str
    description: str
    nodes: tuple[str, ...] = ()
    effect: Effect = "other"
    links: tuple[tuple[str, str], ...] = ()
    #: A ``slow`` fault's longest hold-back of a message on its links, in seconds
    #: (``math.inf``: no known bound); 0 for other faults. See ``FaultType.delay_of``.
    delay: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = list(self.nodes)
        data["links"] = [f"{a}->{b}" for a, b in self.links]
        if not self.delay:
            del data["delay"]
        elif math.isinf(self.delay):
            data["delay"] = None  # JSON has no infinity: null is "no known bound"
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultEvent:
        """A line of ``faults.jsonl``; raises ``ValueError`` on a malformed one."""
        action = data.get("action")
        if action not in ("start", "end", "error"):
            raise ValueError(f"a fault event's action is {action!r}")
        effect = data.get("effect", "other")
        if effect not in ("cut", "lossy", "slow", "crash", "pause", "restart", "byzantine",
                          "other"):
            effect = "other"  # an effect a later version added: shown as any other
        links = []
        for link in data.get("links") or ():
            src, arrow, dest = str(link).partition("->")
            if arrow:
                links.append((src, dest))
        return cls(time=_number(data, "time"), action=action, key=_text(data, "key"),
                   kind=_text(data, "kind"), description=str(data.get("description", "")),
                   nodes=tuple(str(n) for n in data.get("nodes") or ()), effect=effect,
                   links=tuple(links), delay=_delay(data))


def _delay(data: Mapping[str, Any]) -> float:
    """A fault event's ``delay``: absent is 0, null is no known bound."""
    if "delay" not in data:
        return 0.0
    if data["delay"] is None:
        return math.inf
    return _number(data, "delay")


@dataclass(frozen=True)
class IncidentRecord:
    time: float
    node: str
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncidentRecord:
        return cls(_number(data, "time"), _text(data, "node"), _text(data, "kind"),
                   str(data.get("detail", "")))


@dataclass(frozen=True)
class TwinRecord:
    """A twin of the cluster (see ``cluster.twins``): ``member`` speaks as ``node`` to
    the nodes in ``sees``, hearing clients up to ``reorder`` seconds late."""

    member: str
    node: str
    sees: tuple[str, ...]
    reorder: float = 0.0

    @property
    def hearing(self) -> str:
        """How the twin hears clients, for a description ("" when as its original)."""
        if not self.reorder:
            return ""
        return f", hearing client requests in another order (each held back up to " \
               f"{self.reorder * 1000:g}ms)"

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "node": self.node, "sees": list(self.sees),
                "reorder": self.reorder}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TwinRecord:
        return cls(_text(data, "member"), _text(data, "node"),
                   tuple(str(n) for n in data.get("sees") or ()),
                   float(data.get("reorder") or 0.0))


@dataclass(frozen=True)
class RunFacts:
    """What a report needs of a run beyond its verdicts and figures, kept in
    ``result.json`` under ``run`` so that ``summary.md`` and ``report.html`` can be made
    again from the folder alone. A folder written before these were kept reads with the
    defaults: unknown (None or empty), and the page says what it could not show."""

    protocol: str | None = None
    implementation: str | None = None
    #: The node ids, n1..nN.
    nodes: tuple[str, ...] = ()
    twins: tuple[TwinRecord, ...] = ()
    #: The history's time zero, epoch seconds: the trace's times minus it are run times.
    t0: float | None = None
    #: Run phases, seconds since the workload started (see ``RunRecord.phases``).
    phases: Mapping[str, float] = field(default_factory=dict)
    #: Nodes down when the final phase began.
    down_at_end: tuple[str, ...] = ()
    incidents: tuple[IncidentRecord, ...] = ()
    #: The family's own files in the folder, each with a few words (``artifacts``).
    artifacts: tuple[str, ...] = ()
    #: The scenario's YAML as it was read for this run ("" when it was built in code).
    scenario_text: str = ""

    @property
    def members(self) -> tuple[str, ...]:
        """Every process of the cluster: the nodes, then the twins."""
        return self.nodes + tuple(t.member for t in self.twins)

    @classmethod
    def of(cls, record: RunRecord, artifacts: tuple[str, ...] = ()) -> RunFacts:
        scenario = record.scenario
        return cls(
            protocol=scenario.protocol,
            implementation=scenario.cluster.implementation.describe(),
            nodes=tuple(record.nodes),
            twins=tuple(TwinRecord(t.member, t.node, t.sees, t.reorder)
                        for t in scenario.cluster.twins),
            t0=record.history.t0,
            phases=dict(record.phases),
            down_at_end=tuple(sorted(record.down_at_end)),
            incidents=tuple(record.incidents),
            artifacts=artifacts,
            scenario_text=scenario.source,
        )

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "implementation": self.implementation,
                "nodes": list(self.nodes), "twins": [t.to_json() for t in self.twins],
                "t0": self.t0, "phases": dict(self.phases),
                "down_at_end": list(self.down_at_end),
                "incidents": [i.to_json() for i in self.incidents],
                "artifacts": list(self.artifacts), "scenario_text": self.scenario_text}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RunFacts:
        """The facts as written; any missing (an older folder) are left unknown."""
        if not data:
            return cls()
        t0 = data.get("t0")
        protocol, implementation = data.get("protocol"), data.get("implementation")
        return cls(
            protocol=str(protocol) if protocol is not None else None,
            implementation=str(implementation) if implementation is not None else None,
            nodes=tuple(str(n) for n in data.get("nodes") or ()),
            twins=tuple(TwinRecord.from_json(t) for t in data.get("twins") or ()),
            t0=float(t0) if isinstance(t0, int | float) else None,
            phases={str(k): float(v) for k, v in _mapping(data.get("phases")).items()
                    if isinstance(v, int | float)},
            down_at_end=tuple(str(n) for n in data.get("down_at_end") or ()),
            incidents=tuple(IncidentRecord.from_json(i) for i in data.get("incidents") or ()),
            artifacts=tuple(str(a) for a in data.get("artifacts") or ()),
            scenario_text=str(data.get("scenario_text") or ""),
        )


@dataclass
class RunRecord:
    """Everything known about a finished run, in the harness's terms."""

    scenario: Scenario
    seed: int
    history: History
    faults: list[FaultEvent]
    nodes: tuple[str, ...]
    #: Nodes whose process was down when the final phase began (killed, not restarted).
    down_at_end: frozenset[str] = frozenset()
    #: Protocol-family observations (final reads, membership samples, ...), by name.
    observations: dict[str, Any] = field(default_factory=dict)
    #: What each node answered to ``dchaos_state`` at the end (absent if it could not).
    node_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The extension messages each node listed in its ``init_ok`` (the last one, after
    #: restarts): what it offered to report about itself.
    extensions: dict[str, frozenset[str]] = field(default_factory=dict)
    incidents: list[IncidentRecord] = field(default_factory=list)
    #: Run phases, seconds since the workload started: workload_end, healed, final_start,
    #: final_end.
    phases: dict[str, float] = field(default_factory=dict)
    #: The message trace: each node's ``trace.jsonl`` during the run, the merged one after
    #: the report is written.
    trace_files: list[Path] = field(default_factory=list)
    #: Message counts from the trace (see :func:`pytest_dchaos.record.stats.message_counts`).
    messages: dict[str, Any] = field(default_factory=dict)
    #: Each node's folder (what a node left on disk, e.g. after it crashed for good).
    node_dirs: dict[str, Path] = field(default_factory=dict)
    #: Analyses several checkers share (e.g. happens-before), computed once, by name.
    derived: dict[str, Any] = field(default_factory=dict)

    def trace(self) -> Iterator[dict[str, Any]]:
        """Every trace event (times in epoch seconds): file by file, each in time order."""
        for path in self.trace_files:
            if not path.exists():
                continue
            with open(path, encoding="utf-8") as source:
                for line in source:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash of the agent

    def derive(self, name: str, compute: Callable[[RunRecord], T]) -> T:
        """An analysis several checkers share, computed once per record."""
        if name not in self.derived:
            self.derived[name] = compute(self)
        return cast(T, self.derived[name])

    def last_fault_end(self) -> float | None:
        ends = [e.time for e in self.faults if e.action == "end"]
        return max(ends) if ends else None


@dataclass
class RunResult:
    """The outcome of one run, as written to ``result.json``."""

    scenario: str
    passed: bool
    seed: int
    checks: list[Verdict]
    stats: dict[str, Any]
    run_id: str
    report_dir: Path | None = None
    backend: str = "local"
    scenario_path: str | None = None
    record: RunRecord | None = None
    #: Warnings about the experiment itself (see ``ProtocolFamily.notes``).
    notes: list[str] = field(default_factory=list)
    #: The ``dchaos run`` flags that chose what ran, beyond the scenario file: the node
    #: command or image, the Toxiproxy server or image.
    rerun_flags: tuple[str, ...] = ()

    def failed_checks(self) -> list[Verdict]:
        """The checks that make the run fail: failed, or undecided."""
        return [v for v in self.checks if v.failed]

    def check(self, name: str) -> Verdict:
        for verdict in self.checks:
            if verdict.name == name:
                return verdict
        raise KeyError(f"no check named {name!r} in this run")

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "passed": self.passed,
            "seed": self.seed,
            "run_id": self.run_id,
            "backend": self.backend,
            "scenario_path": self.scenario_path,
            "checks": [v.to_json() for v in self.checks],
            "stats": self.stats,
            "notes": self.notes,
            "rerun_flags": list(self.rerun_flags),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], report_dir: Path | None = None) -> RunResult:
        """The result as ``result.json`` holds it (without its record); raises
        ``ValueError`` on a malformed one."""
        if not isinstance(data, Mapping):
            raise ValueError("it is not a JSON object")
        seed = data.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed is {seed!r}, not a number")
        checks = data.get("checks")
        if not isinstance(checks, list) or not all(isinstance(c, Mapping) for c in checks):
            raise ValueError("checks is not a list of verdicts")
        passed = data.get("passed")
        if not isinstance(passed, bool):
            raise ValueError(f"passed is {passed!r}, not true or false")
        path = data.get("scenario_path")
        return cls(
            scenario=_text(data, "scenario"),
            passed=passed,
            seed=seed,
            checks=[Verdict.from_json(c) for c in checks],
            stats=dict(_mapping(data.get("stats"))),
            run_id=str(data.get("run_id", "")),
            report_dir=report_dir,
            backend=str(data.get("backend", "local")),
            scenario_path=str(path) if path is not None else None,
            notes=[str(n) for n in data.get("notes") or ()],
            rerun_flags=tuple(str(f) for f in data.get("rerun_flags") or ()),
        )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is {value!r}, not a string")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{key} is {value!r}, not a number")
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
