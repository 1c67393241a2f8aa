"""The ``validity`` check: every committed request was sent by a client, as sent — in the
logs the honest replicas report, held against the replies the harness saw them give, so a
replica cannot pass by reporting an empty (or shortened) log."""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    canonical_json,
    committed_entries,
    honest_states,
    listing,
    no_state,
    replies_against_logs,
    request_of,
)
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict


class Validity(CheckerType[NoOptions]):
    name = "validity"
    doc = ("Every request an honest replica reports committing was sent by a client, as "
           "sent: none forged, invented or altered. The reported logs are held against the "
           "replies the harness received: a replica whose log lacks a request it was seen "
           "replying to fails (unless it reports taking that part as state by a state "
           "transfer), so an empty or shortened log does not pass.")
    protocols = ("pbft",)
    evidence = "both"
    requires = frozenset({"dchaos_state"})
    blind_to = ("A request a replica committed but never answered a client for (its log "
                "may leave it out unseen); replies after f+1 replicas agreed, which the "
                "client no longer listens for; replicas that answer no dchaos_state.")

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        missing = no_state(self, record)
        if missing:
            return missing
        sent = {r for r in (request_of(op) for op in record.history.ops if op.type == "invoke")
                if r is not None}
        invented, seen = [], 0
        for node, state in sorted(honest_states(record).items()):
            for seq, slot in sorted(committed_entries(state).items()):
                for op in slot[1:]:
                    seen += 1
                    if not isinstance(op, dict):
                        invented.append(f"{node} committed {op!r} at seq {seq}")
                        continue
                    request = (str(op.get("client")), op.get("timestamp"),
                               canonical_json(op.get("op")))
                    if request not in sent:
                        invented.append(f"{node} committed at seq {seq} a request no client "
                                        f"sent: {canonical_json(op)}")
        figures: dict[str, int] = {"committed_requests": seen, "invented": len(invented)}
        held = replies_against_logs(record)
        # Without replies to hold them against, the logs alone decide.
        evidence: EvidenceKind = "reported" if held is None else "both"
        problems = list(invented)
        checked = ""
        if held is not None:
            problems += held.problems
            figures.update(replies_judged=held.judged, unlisted=len(held.problems),
                           excused=held.excused)
            excused = (f", {held.excused} of them by replicas that took that part as state"
                       if held.excused else "")
            checked = (f"; every one of {held.judged} replies the harness saw them give is "
                       f"for a request in the replier's log{excused}")
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                witness={"invented": invented[:50],
                                         "unlisted": list(held.problems[:50]) if held else []},
                                figures=figures, evidence=evidence)
        return self.verdict(True, f"every request the {len(honest_states(record))} honest "
                            f"replicas committed ({seen} in all) was sent by a client"
                            + checked + bound_note(record), figures=figures,
                            evidence=evidence)
