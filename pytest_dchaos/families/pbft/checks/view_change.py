"""The ``view_change`` check: a faulty primary is replaced in time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    honest_states,
    listing,
    no_state,
)
from pytest_dchaos.families.pbft.quorums import max_faulty, primary_of
from pytest_dchaos.record.result import FaultEvent, RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

#: Behaviours after which a primary need not be replaced: it still lets requests through.
HARMLESS_TO_PROGRESS = ("replay",)


def _views(state: dict[str, Any], t0: float) -> list[tuple[float, int]]:
    out = []
    for entry in state.get("views") or []:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int) \
                and isinstance(entry[1], (int, float)):
            out.append((entry[1] - t0, entry[0]))
    return sorted(out)


def _view_at(views: list[tuple[float, int]], t: float) -> int | None:
    current = None
    for when, view in views:
        if when <= t:
            current = view
    return current


@dataclass(frozen=True)
class ViewChangeOptions:
    within: float
    require: bool


class ViewChange(CheckerType[ViewChangeOptions]):
    name = "view_change"
    doc = ("A faulty primary is replaced: when the primary of the current view crashes, "
           "pauses, is cut off from a quorum or turns Byzantine (but for replay), every honest "
           "replica that is up installs a view with another primary within `within`. Needs "
           "`views` in the replicas' dchaos_state.")
    protocols = ("pbft",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})
    options = s.Struct((
        s.Field("within", s.Duration(), "time from the primary's fault to the new view", 3.0),
        s.Field("require", s.Bool(), "fail if no primary was faulty at all", True),
    ))
    options_type = ViewChangeOptions

    def check(self, options: ViewChangeOptions, record: RunRecord) -> Verdict:
        missing = no_state(self, record)
        if missing:
            return missing
        nodes = tuple(record.nodes)
        n, t0 = len(nodes), record.history.t0
        views = {node: _views(st, t0) for node, st in honest_states(record).items()}
        if not any(views.values()):
            return self.verdict(False, "no replica reports `views` in dchaos_state, so view "
                                "changes cannot be timed")
        conditions = Conditions(record.faults, nodes)
        quorum = 2 * max_faulty(n) + 1
        problems, delays, cases = [], [], 0
        for event in record.faults:
            if event.action != "start":
                continue
            for node in self._faulty_primaries(event, conditions, quorum):
                known = [v for v in (_view_at(vs, event.time) for vs in views.values())
                         if v is not None]
                if not known or primary_of(max(known), nodes) != node:
                    continue
                cases += 1
                for replica, vs in sorted(views.items()):
                    if replica == node or conditions.is_down(replica, event.time) \
                            or replica in record.down_at_end:
                        continue
                    later = [w for w, v in vs if w >= event.time
                             and primary_of(v, nodes) != node]
                    if not later:
                        problems.append(f"{replica} never left {node}'s view after its fault "
                                        f"at +{event.time:.2f}s ({event.description})")
                        continue
                    delay = later[0] - event.time
                    delays.append(delay)
                    if delay > options.within:
                        problems.append(f"{replica} replaced primary {node} {delay:.2f}s "
                                        f"after +{event.time:.2f}s (> {options.within:g}s)")
        figures = {"faulty_primaries": cases,
                   "max_s": round(max(delays), 3) if delays else None}
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                figures=figures)
        if not cases and options.require:
            return self.verdict(False, "no fault hit the primary of the current view, so "
                                "no view change was shown", figures=figures)
        within = f" within {max(delays):.2f}s" if delays else ""
        return self.verdict(True, f"{cases} faulty primary(ies) replaced by every honest "
                            f"replica{within}" + bound_note(record), figures=figures)

    @staticmethod
    def _faulty_primaries(event: FaultEvent, conditions: Conditions, quorum: int
                          ) -> list[str]:
        if event.effect in ("crash", "pause"):
            return list(event.nodes)
        if event.effect == "byzantine":
            harmless = any(f"turns {b}" in event.description for b in HARMLESS_TO_PROGRESS)
            return [] if harmless else list(event.nodes)
        if event.effect == "cut":
            after = conditions.at(event.time + 1e-6)
            groups: dict[int, int] = defaultdict(int)
            for label in after.component.values():
                groups[label] += 1
            return [node for node, label in after.component.items() if groups[label] < quorum]
        return []
