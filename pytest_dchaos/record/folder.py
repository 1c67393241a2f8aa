"""A report folder read back: what ``summary.md`` and ``report.html`` are made from.

A run writes its folder (:mod:`pytest_dchaos.record.report`) and then makes its summary and
page from the files it wrote, exactly as ``dchaos report DIR`` makes them again later from a
folder copied off a CI machine: the two can only agree. Reading is tolerant of folders
written before a field existed (what is missing is shown as unknown) and strict about what
cannot be read at all: a folder without ``result.json``, or one that is not JSON, is a
:class:`ReportFolderError` that names the file and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_dchaos.errors import DchaosError
from pytest_dchaos.record.history import COMPLETIONS, History, Op
from pytest_dchaos.record.result import FaultEvent, RunFacts, RunResult


class ReportFolderError(DchaosError):
    """A report folder (or a file in it) that cannot be read."""


@dataclass
class ReportFolder:
    """The files of one report folder, read on demand."""

    path: Path
    result: RunResult
    facts: RunFacts
    faults: list[FaultEvent]
    #: What was wrong with a file that could be left out (a torn line of the history, an
    #: unreadable ``states.json``): the page says so instead of failing.
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ReportFolder:
        """Read the folder at ``path``; raises :class:`ReportFolderError` when it is not
        a report folder of a finished run."""
        path = Path(path)
        if not path.exists():
            raise ReportFolderError(f"{path}: no such folder (give the report folder a run "
                                    "printed, e.g. dchaos-reports/<scenario>-<time>-<run id>)")
        if not path.is_dir():
            raise ReportFolderError(f"{path}: not a folder (give the report folder, not a "
                                    "file in it)")
        source = path / "result.json"
        if not source.is_file():
            hint = ("its summary.md says why the run ended before it was judged"
                    if (path / "summary.md").is_file()
                    else "a report folder holds the result.json a finished run writes")
            raise ReportFolderError(f"{source}: missing, so {path} is not the report folder "
                                    f"of a finished run ({hint})")
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportFolderError(f"{source}: cannot be read ({exc})") from None
        except ValueError as exc:
            raise ReportFolderError(
                f"{source}: not valid JSON ({exc}); the file is corrupt or truncated: run "
                "the scenario again to get a new one") from None
        try:
            result = RunResult.from_json(data, report_dir=path)
            facts = RunFacts.from_json(data.get("run"))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ReportFolderError(
                f"{source}: not a result dchaos wrote ({exc}); the file is corrupt or "
                "truncated: run the scenario again to get a new one") from None
        problems: list[str] = []
        faults = []
        for number, line in enumerate(_lines(path / "faults.jsonl", problems), start=1):
            try:
                faults.append(FaultEvent.from_json(json.loads(line)))
            except (ValueError, TypeError, AttributeError) as exc:
                problems.append(f"faults.jsonl line {number} left out: {exc}")
        return cls(path, result, facts, faults, problems)

    @cached_property
    def history(self) -> History:
        """The client history (empty if ``history.jsonl`` is missing; lines that cannot be
        read are left out and named in :attr:`problems`)."""
        ops = []
        for number, line in enumerate(_lines(self.path / "history.jsonl", self.problems),
                                      start=1):
            try:
                ops.append(_op(json.loads(line)))
            except (ValueError, TypeError) as exc:
                self.problems.append(f"history.jsonl line {number} left out: {exc}")
        return History.of(ops)

    @cached_property
    def observations(self) -> dict[str, Any]:
        """``observations.json`` as written: each family observation field by field."""
        return self._json_object("observations.json")

    @cached_property
    def states(self) -> dict[str, Any]:
        """``states.json``: what each node answered to ``dchaos_state`` (reported)."""
        return self._json_object("states.json")

    def trace(self) -> Iterator[dict[str, Any]]:
        """The merged message trace, in time order (times in epoch seconds); a line that is
        not a JSON object is skipped."""
        trace = self.path / "trace.jsonl"
        if not trace.is_file():
            return
        with open(trace, encoding="utf-8", errors="replace") as source:
            for line in source:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event

    @property
    def t0(self) -> float | None:
        """The run's time zero in epoch seconds (None for a folder that does not say)."""
        return self.facts.t0

    @property
    def end(self) -> float:
        """When the run ended, in run time: the last phase, operation or fault seen."""
        times = [*self.facts.phases.values(), *(e.time for e in self.faults),
                 *(op.time for op in self.history.ops[-1:])]
        return max([0.0, *times])

    def _json_object(self, name: str) -> dict[str, Any]:
        source = self.path / name
        if not source.is_file():
            return {}
        try:
            data = json.loads(source.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError) as exc:
            self.problems.append(f"{name} left out: {exc}")
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{name} left out: not a JSON object")
            return {}
        return data


def _lines(path: Path, problems: list[str]) -> Iterator[str]:
    if not path.is_file():
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as source:
            for line in source:
                if line.strip():
                    yield line
    except OSError as exc:
        problems.append(f"{path.name} left out: {exc}")


def _op(data: Any) -> Op:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    op = Op(**data)
    if op.type not in ("invoke", *COMPLETIONS):
        raise ValueError(f"type is {op.type!r}")
    if not isinstance(op.time, int | float):
        raise ValueError(f"time is {op.time!r}")
    return op
