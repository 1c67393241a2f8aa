"""Fault coverage: per fault kind, how many firings were injected and how many took effect.

"Took effect" is judged from what the harness itself saw (the fault timeline it wrote, the
message trace its agents carried), never from what nodes say:

- a partition took effect if a message on one of its links was lost to the cut while it
  held (the agent's ``drop`` with ``link down``): a cut no message tried to cross did
  nothing;
- a message fault that loses or duplicates took effect if its agents dropped (``rule``) or
  duplicated a message on its links while it held; reordering and fixed delays leave no
  mark in the trace, so a fault that only does those is counted as *not measured*;
- a message fault that mutates or replays took effect if its agents changed (``mutate``) or
  sent again (``replay``) a message on its links while it held (a body with no field to
  change is left as it was, and leaves no mark);
- a latency or bandwidth fault took effect if a message was sent on one of its links while
  it held;
- a kill or stop took effect if the node was up (not already killed or stopped, nor
  crashed on its own); a pause if the node was running; a restart always does something;
- a Byzantine behaviour took effect if the node, up, sent a message while it held; a
  ``silent`` one sends nothing by design, so it is *not measured*.

A firing the fault layer could not apply (an ``error`` line in the timeline) is counted as
injected and as an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.explore.schedule import FaultEntry, fault_kind
from pytest_dchaos.record.result import FaultEvent, RunRecord


@dataclass
class KindCoverage:
    injected: int = 0
    took_effect: int = 0
    #: Firings whose effect leaves no mark the harness sees (see the module docstring).
    not_measured: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, int]:
        return {"injected": self.injected, "took_effect": self.took_effect,
                "not_measured": self.not_measured, "errors": self.errors}


@dataclass(frozen=True)
class FiringEffect:
    """One firing of a run: its key (``f1`` is the schedule's first entry), its kind, and
    whether it took effect (None: not measurable, or it could not be applied)."""

    key: str
    kind: str
    took_effect: bool | None
    error: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "took_effect": self.took_effect,
                "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FiringEffect:
        """What :meth:`to_json` wrote (a worker process sends its runs' effects so)."""
        took = data["took_effect"]
        return cls(str(data["key"]), str(data["kind"]), None if took is None else bool(took),
                   bool(data.get("error", False)))


class Coverage:
    """Totals over every run of an exploration."""

    def __init__(self) -> None:
        self.kinds: dict[str, KindCoverage] = {}

    def add(self, effects: Sequence[FiringEffect]) -> None:
        for effect in effects:
            row = self.kinds.setdefault(effect.kind, KindCoverage())
            row.injected += 1
            if effect.error:
                row.errors += 1
            elif effect.took_effect is None:
                row.not_measured += 1
            elif effect.took_effect:
                row.took_effect += 1

    def to_json(self) -> dict[str, dict[str, int]]:
        return {kind: row.to_json() for kind, row in sorted(self.kinds.items())}

    def table(self) -> str:
        """The coverage table printed at the end of an exploration."""
        if not self.kinds:
            return "fault coverage: no fault was injected"
        header = ("kind", "injected", "took effect", "not measured", "errors")
        rows = [header] + [
            (kind, str(r.injected), str(r.took_effect), str(r.not_measured), str(r.errors))
            for kind, r in sorted(self.kinds.items())]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["fault coverage:"]
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                 zip(row[1:], widths[1:], strict=True)]
            lines.append("  " + "  ".join(cells))
        if any(r.not_measured for r in self.kinds.values()):
            lines.append("  not measured: reordering, fixed delays and a silent traitor leave "
                         "no mark in the message trace")
        return "\n".join(lines)


def firing_effects(record: RunRecord, entries: Sequence[FaultEntry]) -> list[FiringEffect]:
    """Whether each firing of a run of a generated schedule took effect."""
    t0 = record.history.t0
    trace = [(event["t"] - t0, event["ev"], event["src"], event["dest"], event.get("why"))
             for event in record.trace()
             if event.get("ev") in ("drop", "dup", "send", "mutate", "replay")]
    end_of_run = record.phases.get("healed", float("inf"))
    ends = {e.key: e.time for e in record.faults if e.action == "end"}
    effects: list[FiringEffect] = []
    down: set[str] = set()
    paused: set[str] = set()
    crashes = sorted((i.time, i.node) for i in record.incidents if i.kind == "crash")
    for event in record.faults:
        while crashes and crashes[0][0] <= event.time:
            down.add(crashes.pop(0)[1])
        if event.action == "error":
            effects.append(FiringEffect(event.key, event.kind, None, error=True))
            continue
        nodes = set(event.nodes)
        if event.action == "end":
            if event.kind in ("kill", "stop"):
                down -= nodes
            elif event.kind == "pause":
                paused -= nodes
            continue
        window = (event.time, ends.get(event.key, end_of_run))
        took: bool | None
        if event.kind in ("kill", "stop"):
            took = bool(nodes - down)
            down |= nodes
            paused -= nodes
        elif event.kind == "pause":
            took = bool(nodes - down - paused)
            paused |= nodes - down
        elif event.kind == "restart":
            took = bool(nodes)  # none when aimed at a leader and no node led
            down -= nodes
            paused -= nodes
        elif event.kind == "byzantine" and _silent(_entry(entries, event.key)):
            took = None  # a silent traitor sends nothing: nothing in the trace to show it
        elif event.kind == "byzantine":
            # It turned (none when aimed at a leader and no node led) and, up, said
            # something while it was a traitor.
            low, high = window
            took = any(low <= t <= high and ev == "send" and src in nodes - down
                       for t, ev, src, _, _ in trace)
        else:
            took = _network_effect(event, _entry(entries, event.key), trace, window)
        effects.append(FiringEffect(event.key, event.kind, took))
    return effects


def _entry(entries: Sequence[FaultEntry], key: str) -> Mapping[str, Any] | None:
    # Entries of a generated schedule never repeat, so firing ``fN`` is entry N.
    try:
        index = int(key[1:]) - 1
    except ValueError:
        return None
    return entries[index] if 0 <= index < len(entries) else None


def _silent(entry: Mapping[str, Any] | None) -> bool:
    options = entry.get("byzantine") if entry is not None else None
    return isinstance(options, Mapping) and options.get("behavior") == "silent"


def _network_effect(event: FaultEvent, entry: Mapping[str, Any] | None,
                    trace: Sequence[tuple[float, str, str, str, str | None]],
                    window: tuple[float, float]) -> bool | None:
    links = set(event.links)
    #: Trace events that show the fault at work: (event, its ``why``, or ANY).
    wanted: set[tuple[str, str | None]]
    if event.kind == "partition":
        wanted = {("drop", "link down")}
    elif event.kind == "message":
        options = entry.get("message", {}) if entry is not None and \
            fault_kind(entry) == "message" else {}
        wanted = {mark for option, mark in MESSAGE_MARKS.items() if options.get(option)}
        if not wanted:
            return None
    elif event.kind in ("latency", "toxic"):
        wanted = {("send", None)}
    else:
        return None
    low, high = window
    return any(low <= t <= high and ((ev, why) in wanted or (ev, ANY) in wanted)
               and (src, dest) in links for t, ev, src, dest, why in trace)


#: Matches any ``why`` of a trace event.
ANY = "*"
#: The trace event each option of a message fault leaves when it acts.
MESSAGE_MARKS: dict[str, tuple[str, str | None]] = {
    "drop": ("drop", "rule"), "duplicate": ("dup", None),
    "mutate": ("mutate", ANY), "replay": ("replay", ANY)}


__all__ = ["Coverage", "FiringEffect", "KindCoverage", "firing_effects"]
