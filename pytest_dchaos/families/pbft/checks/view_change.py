"""The ``view_change`` check: a faulty primary is replaced in time.

Where honest replicas report ``views`` (``[view, time installed]``) in ``dchaos_state``,
the check times each replica's move from those reports, and holds the reports against the
views the same replica named in its replies to clients (observed): a replica's view never
goes back, so a reply in a view lower than one it reports having installed (more than
:data:`REPLY_SLACK` before the reply arrived), or a final ``view`` lower than one it
replied in, is a report that does not match what it did. A reply in a view the replica
reports installing only *later* is no mismatch: during a view change a replica's view is
already the one it is changing to, and it answers retransmitted requests from its reply
cache in it.

Where no honest replica reports ``views``, the replies alone decide: after a fault that
hit the primary of the view the replies last named, f+1 honest replicas must reply in a
later view with another primary, within ``within``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    honest_replies,
    honest_states,
    last_start,
    listing,
    no_state,
    request_name,
)
from pytest_dchaos.families.pbft.observations import Reply
from pytest_dchaos.families.pbft.quorums import max_faulty, primary_of
from pytest_dchaos.record.result import EvidenceKind, FaultEvent, RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

#: Behaviours after which a primary need not be replaced: it still lets requests through.
#: (So does a message fault that only replays: see ``_faulty_primaries``.)
HARMLESS_TO_PROGRESS = ("replay",)

#: Seconds a reply may spend between the replica and the harness. A reply that arrives in a
#: view lower than one its replica reports installing is a mismatch only if the install
#: came more than this before the reply arrived: the reply may have left before it.
#: (Times compare across processes: the harness's clock and the replica's, one clock on
#: the local and Docker backends.)
REPLY_SLACK = 1.0


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
           "replica that is up installs a view with another primary within `within`, as its "
           "reported `views` say; those reports are held against the views it named in its "
           "replies (none lower than a view it had installed; its final view no lower than "
           "any it replied in). "
           "Where no replica reports `views`, judged from the replies alone: f+1 honest "
           "replicas reply in a later view with another primary within `within`.")
    protocols = ("pbft",)
    evidence = "both"
    blind_to = ("From replies alone: when each replica moved (only that f+1 answered "
                "clients in a later view, which a replica does from the moment it starts a "
                "view change), and a view change while no client was answered. With "
                "reports: a replica that replied in a view before it reports installing it "
                "(legitimate during a view change). The view in a reply is the replica's "
                "word.")
    options = s.Struct((
        s.Field("within", s.Duration(), "time from the primary's fault to the new view", 3.0),
        s.Field("require", s.Bool(), "fail if no primary was faulty at all", True),
    ))
    options_type = ViewChangeOptions

    def check(self, options: ViewChangeOptions, record: RunRecord) -> Verdict:
        t0 = record.history.t0
        states = honest_states(record)
        views = {node: _views(st, t0) for node, st in states.items()}
        replies = honest_replies(record)
        if any(views.values()):
            return self._from_reports(options, record, views, replies)
        if replies is not None:
            return self._from_replies(options, record, replies)
        missing = no_state(self, record)
        if missing:
            return missing
        return self.verdict(False, "no replica reports `views` in dchaos_state, so view "
                            "changes cannot be timed", evidence="reported")

    def _from_reports(self, options: ViewChangeOptions, record: RunRecord,
                      views: dict[str, list[tuple[float, int]]],
                      replies: list[Reply] | None) -> Verdict:
        nodes = tuple(record.nodes)
        n = len(nodes)
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
        figures: dict[str, Any] = {"faulty_primaries": cases,
                                   "max_s": round(max(delays), 3) if delays else None}
        evidence: EvidenceKind = "reported"
        checked = ""
        if replies is not None:
            evidence = "both"
            judged, mismatches = views_against_replies(record, views, replies)
            problems += mismatches
            figures.update(replies_judged=judged, view_mismatches=len(mismatches))
            if not mismatches:
                checked = (f"; the views in {judged} replies match the views the replicas "
                           "report")
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                figures=figures, evidence=evidence)
        if not cases and options.require:
            return self.verdict(False, "no fault hit the primary of the current view, so "
                                "no view change was shown" + checked, figures=figures,
                                evidence=evidence)
        within = f" within {max(delays):.2f}s" if delays else ""
        return self.verdict(True, f"{cases} faulty primary(ies) replaced by every honest "
                            f"replica{within}" + checked + bound_note(record), figures=figures,
                            evidence=evidence)

    def _from_replies(self, options: ViewChangeOptions, record: RunRecord,
                      replies: list[Reply]) -> Verdict:
        """No replica reports its views: what the replies show of the cluster's."""
        nodes = tuple(record.nodes)
        n = len(nodes)
        needed = max_faulty(n) + 1
        conditions = Conditions(record.faults, nodes)
        quorum = 2 * max_faulty(n) + 1
        viewed = [r for r in replies if r.kind == "reply" and r.view is not None]
        problems: list[str] = []
        delays: list[float] = []
        cases = 0
        for event in record.faults:
            if event.action != "start":
                continue
            for node in self._faulty_primaries(event, conditions, quorum):
                # Every run starts in view 0; after that, the replies tell.
                current = max((r.view for r in viewed if r.at <= event.time
                               and r.view is not None), default=0)
                if primary_of(current, nodes) != node:
                    continue
                cases += 1
                moved: dict[str, float] = {}
                for r in viewed:
                    if r.at >= event.time and r.member != node and r.view is not None \
                            and r.view > current and primary_of(r.view, nodes) != node:
                        moved.setdefault(r.member, r.at)
                fault = f"{node}'s fault at +{event.time:.2f}s ({event.description})"
                if len(moved) < needed:
                    who = f" ({', '.join(sorted(moved))})" if moved else ""
                    problems.append(f"after {fault}, {len(moved)} honest replica(s){who} "
                                    f"replied in a later view with another primary; "
                                    f"f+1 = {needed} show the view changed")
                    continue
                delay = sorted(moved.values())[needed - 1] - event.time
                delays.append(delay)
                if delay > options.within:
                    problems.append(f"after {fault}, f+1 = {needed} honest replicas had "
                                    f"replied in a view with another primary only "
                                    f"{delay:.2f}s later (> {options.within:g}s)")
        figures = {"faulty_primaries": cases,
                   "max_s": round(max(delays), 3) if delays else None,
                   "replies": len(viewed)}
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                figures=figures, evidence="observed")
        if not cases and options.require:
            return self.verdict(False, "no fault hit the primary of the view the replies "
                                "named, so no view change was shown", figures=figures,
                                evidence="observed")
        within = f" within {max(delays):.2f}s" if delays else ""
        return self.verdict(True, f"replies (observed; no replica reports `views`): after "
                            f"{cases} faulty primary(ies), f+1 = {needed} honest replicas "
                            f"replied in a view with another primary{within}"
                            + bound_note(record), figures=figures, evidence="observed")

    @staticmethod
    def _faulty_primaries(event: FaultEvent, conditions: Conditions, quorum: int
                          ) -> list[str]:
        if event.effect in ("crash", "pause"):
            return list(event.nodes)
        if event.effect == "byzantine":
            harmless = any(f"turns {b}" in event.description for b in HARMLESS_TO_PROGRESS) \
                or (event.kind == "message" and "mutate" not in event.description)
            return [] if harmless else list(event.nodes)
        if event.effect == "cut":
            after = conditions.at(event.time + 1e-6)
            groups: dict[int, int] = defaultdict(int)
            for label in after.component.values():
                groups[label] += 1
            return [node for node, label in after.component.items() if groups[label] < quorum]
        return []


def views_against_replies(record: RunRecord, views: dict[str, list[tuple[float, int]]],
                          replies: list[Reply]) -> tuple[int, list[str]]:
    """Each reporting replica's views held against the views it named in its replies, in
    the life its report is of: how many replies were judged, and one line per replica and
    kind of mismatch (its first)."""
    finals = {node: st.get("view") for node, st in honest_states(record).items()}
    starts = {node: last_start(record, node) for node in views}
    judged = 0
    found: dict[tuple[str, str], str] = {}
    for reply in replies:
        node, view = reply.member, reply.view
        if reply.kind != "reply" or view is None or not views.get(node) \
                or reply.at < starts[node]:
            continue
        judged += 1
        name = request_name(reply.client, reply.timestamp, reply.op)
        installed = [(when, v) for when, v in views[node]
                     if when <= reply.at - REPLY_SLACK and v > view]
        if installed and (node, "back") not in found:
            when, higher = installed[0]
            found[(node, "back")] = (
                f"{node} replied to {name} in view {view} at +{reply.at:.2f}s, but reports "
                f"having installed view {higher} at +{when:.2f}s (a view never goes back)")
        final = finals.get(node)
        if isinstance(final, int) and final < view and (node, "final") not in found:
            found[(node, "final")] = (
                f"{node} replied to {name} in view {view} at +{reply.at:.2f}s, but reports "
                f"view {final} as its view at the end")
    return judged, [found[key] for key in sorted(found)]
