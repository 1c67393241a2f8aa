"""What a run leaves behind: the record checkers judge, their verdicts, and the result.

Checkers read a :class:`RunRecord` and nothing else — no backend, no fault layer — and the
report folder holds everything a record is made of (history, trace, fault timeline,
observations, states). Rebuilding a record from a folder to judge it again offline is not
offered yet.
"""

from __future__ import annotations

import json
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = list(self.nodes)
        data["links"] = [f"{a}->{b}" for a, b in self.links]
        return data


@dataclass(frozen=True)
class IncidentRecord:
    time: float
    node: str
    kind: str
    detail: str


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
