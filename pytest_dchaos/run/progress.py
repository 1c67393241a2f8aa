"""Progress while a run is under way: time, operations ok / failed / unknown, the rate
achieved when it falls short of the one asked for, active faults, and nodes down or paused.

On a terminal one status line is redrawn in place; elsewhere (CI logs) a line is printed
every few seconds and whenever the active faults or the nodes' states change, so a long run
in CI shows where it is without flooding the log.

A fault can be over while what it did is not: a kill without a duration leaves its node
down until a restart or the final heal, so nodes are shown by their state, not by the
faults active.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pytest_dchaos.record.history import History
    from pytest_dchaos.record.result import RunResult
    from pytest_dchaos.run.nemesis import Firing, Nemesis
    from pytest_dchaos.run.workload import WorkloadRunner
    from pytest_dchaos.scenario.model import Scenario

LOG_EVERY = 5.0
REDRAW_EVERY = 0.25
#: The achieved rate is shown when it is below this share of the rate asked for ...
SHORTFALL = 0.8
#: ... once the workload has run this long (the first operations say little).
RATE_AFTER = 1.0
#: Node states the status line names (running ones are not news).
SHOWN_STATES = ("down", "paused", "starting")


class Progress:
    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None,
                 enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interactive = (self.stream.isatty() if interactive is None else interactive)
        self._history: History | None = None
        self._workload: WorkloadRunner | None = None
        self._nemesis: Nemesis | None = None
        self._duration = 0.0
        self._last_print = 0.0
        self._last_state: tuple[object, ...] = ()
        self._line_open = False

    @classmethod
    def silent(cls) -> Progress:
        return cls(enabled=False)

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        if self._line_open:
            self.stream.write("\r\x1b[2K")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def begin(self, scenario: Scenario, seed: int, backend: str, report_dir: Path,
              firings: list[Firing], command: tuple[str, ...],
              notes: list[str] | None = None) -> None:
        self._write(f"dchaos: {scenario.name} — {scenario.protocol}, "
                    f"{scenario.cluster.nodes} nodes, {backend} backend, seed {seed}")
        self._write(f"  node:   {' '.join(command)}")
        w = scenario.workload
        self._write(f"  load:   {w.clients} clients, {w.rate:g} ops/s for {w.duration:g}s, "
                    f"recovery up to {w.recovery:g}s")
        if firings:
            self._write("  faults:")
            for firing in firings:
                self._write(f"    {firing.describe_timing()}")
        for note in notes or ():
            self._write(f"  note:   {note}")
        self._write(f"  report: {report_dir}")

    def phase(self, text: str) -> None:
        stamp = f"{self._history.now():6.1f}s" if self._history else "      "
        self._write(f"  [{stamp}] {text}")

    def workload(self, history: History, workload: WorkloadRunner, nemesis: Nemesis,
                 duration: float) -> None:
        self._history, self._workload, self._nemesis = history, workload, nemesis
        self._duration = duration

    def status_line(self) -> str:
        assert self._history and self._workload and self._nemesis
        now = self._history.now()
        counts = self._workload.counts
        faults, nodes = self._state()
        parts = [f"  [{now:6.1f}s/{self._duration:g}s] ops ok {counts['ok']} "
                 f"fail {counts['fail']} info {counts['info']}"]
        rate = self._shortfall(now, sum(counts.values()))
        if rate:
            parts.append(rate)
        parts.append(f"faults: {'; '.join(faults) if faults else 'none'}")
        parts.extend(f"{state}: {' '.join(names)}" for state, names in nodes)
        return " | ".join(parts)

    def _state(self) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """The active faults, and the nodes in each state worth showing."""
        assert self._nemesis
        cluster = self._nemesis.cluster
        statuses = {node: cluster.status(node) for node in cluster.node_ids}
        nodes = [(state, [n for n, s in statuses.items() if s == state])
                 for state in SHOWN_STATES]
        return self._nemesis.active(), [(state, names) for state, names in nodes if names]

    def _shortfall(self, now: float, done: int) -> str:
        """The rate achieved, if it is well below the rate asked for."""
        assert self._workload
        asked = self._workload.spec.rate
        elapsed = min(now, self._duration)
        if elapsed < RATE_AFTER or asked <= 0:
            return ""
        achieved = done / elapsed
        if achieved >= SHORTFALL * asked:
            return ""
        return f"rate {achieved:.0f}/s of {asked:g}/s asked"

    def tick(self) -> None:
        if not self.enabled or self._history is None:
            return
        now = time.monotonic()
        state = self._state() if self._nemesis else ()
        if self.interactive:
            if now - self._last_print >= REDRAW_EVERY:
                self.stream.write("\r\x1b[2K" + self.status_line()[: _width()])
                self.stream.flush()
                self._line_open = True
                self._last_print = now
        elif now - self._last_print >= LOG_EVERY or state != self._last_state:
            self._write(self.status_line())
            self._last_print = now
        self._last_state = state

    def finish(self, result: RunResult) -> None:
        if self._line_open:
            self._write("")

    def info(self, text: str) -> None:
        self._write(text)


def _width() -> int:
    try:
        import shutil

        return max(40, shutil.get_terminal_size().columns - 1)
    except OSError:
        return 120
