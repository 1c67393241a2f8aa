"""One run of a schedule, told as a :class:`Tried`: what ``explore.json`` lists of it.

Both the explorer (in its own process) and a search worker (in another, see
:mod:`pytest_dchaos.explore.workers`) run schedules through :func:`attempt`, so a run is
judged and told the same way wherever it ran; a worker sends its :class:`Tried` back as
:meth:`Tried.to_json` and the explorer reads it with :meth:`Tried.from_json`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pytest_dchaos.errors import DchaosError, FaultRefused
from pytest_dchaos.explore.coverage import FiringEffect, firing_effects
from pytest_dchaos.explore.schedule import FaultEntry
from pytest_dchaos.record.result import RunResult
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.model import Scenario

Verdict = Literal["pass", "fail", "error"]
Phase = Literal["search", "confirm", "shrink", "minimal"]


@dataclass
class Tried:
    """One run of a schedule, as ``explore.json`` lists it."""

    number: int
    phase: Phase
    seed: int
    faults: list[FaultEntry]
    shapes: list[str]
    verdict: Verdict
    failed_checks: list[str]
    detail: str
    seconds: float
    effects: list[FiringEffect]
    report_dir: str | None = None
    #: k: the exploration's k-th schedule (a function of the exploration seed and k alone),
    #: for the runs of a generated schedule (search, and the confirmation reruns).
    schedule: int | None = None
    #: The search worker (1..N) that ran it, with ``--workers`` above 1.
    worker: int | None = None
    #: When it was started, in seconds since the exploration began.
    started: float | None = None
    #: An error run in which a node refused a fault it was asked to play
    #: (:class:`~pytest_dchaos.errors.FaultRefused`): the node's limit, not a failure.
    refused: bool = False
    #: The ``cluster.twins`` entries the schedule added (a twin is a cluster setting).
    twins: list[FaultEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.number, "phase": self.phase, "schedule": self.schedule,
                "worker": self.worker, "seed": self.seed,
                "faults": self.faults, "shapes": self.shapes, "verdict": self.verdict,
                "failed_checks": self.failed_checks, "detail": self.detail,
                "seconds": round(self.seconds, 2),
                "started_s": None if self.started is None else round(self.started, 2),
                "effects": [e.to_json() for e in self.effects],
                "report_dir": self.report_dir, "refused": self.refused, "twins": self.twins}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tried:
        """What :meth:`to_json` wrote."""
        return cls(
            number=int(data["run"]), phase=cast(Phase, data["phase"]), seed=int(data["seed"]),
            faults=list(data["faults"]), shapes=[str(s) for s in data["shapes"]],
            verdict=cast(Verdict, data["verdict"]),
            failed_checks=[str(c) for c in data["failed_checks"]], detail=str(data["detail"]),
            seconds=float(data["seconds"]),
            effects=[FiringEffect.from_json(e) for e in data["effects"]],
            report_dir=data.get("report_dir"), schedule=data.get("schedule"),
            worker=data.get("worker"), started=data.get("started_s"),
            refused=bool(data.get("refused", False)), twins=list(data.get("twins") or []))


def attempt(scenario: Scenario, options: RunOptions, registry: Registry, number: int,
            phase: Phase, seed: int, faults: list[FaultEntry], shapes: list[str]
            ) -> tuple[Tried, RunResult | None]:
    """One run, told as a :class:`Tried`; the result too, unless it could not run."""
    began = time.monotonic()
    try:
        result = run_scenario(scenario, options, registry)
    except DchaosError as exc:
        return Tried(number, phase, seed, faults, shapes, "error", [], str(exc),
                     time.monotonic() - began, [], refused=_refused(exc)), None
    record = result.record
    effects = firing_effects(record, faults) if record is not None else []
    failing = result.failed_checks()
    return Tried(number, phase, seed, faults, shapes, "pass" if result.passed else "fail",
                 [v.name for v in failing], _detail(failing), time.monotonic() - began,
                 effects), result


def _refused(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised for, is a node refusing a fault."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FaultRefused):
            return True
        seen = seen.__cause__
    return False


#: How much of a failed check's first line a run keeps (the report has all of it).
DETAIL_CHARS = 200


def _detail(failing: Sequence[Any]) -> str:
    if not failing:
        return ""
    first = failing[0]
    line = str(first.detail).splitlines()[0] if str(first.detail) else ""
    if len(line) > DETAIL_CHARS:
        # Cut at a separator, so the line ends on a whole item and says there is more.
        cut = line.rfind("; ", 0, DETAIL_CHARS)
        if cut <= 0:
            cut = line.rfind(", ", 0, DETAIL_CHARS)
        line = line[:cut if cut > 0 else DETAIL_CHARS].rstrip() + "; …"
    return f"{first.name}: {line}"


__all__ = ["Phase", "Tried", "Verdict", "attempt"]
