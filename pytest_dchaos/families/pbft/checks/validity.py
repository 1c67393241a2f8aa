"""The ``validity`` check: every committed request was sent by a client, as sent."""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    canonical_json,
    committed_entries,
    honest_states,
    listing,
    no_state,
    request_of,
)
from pytest_dchaos.record.result import RunRecord, Verdict


class Validity(CheckerType[NoOptions]):
    name = "validity"
    doc = ("Every request an honest replica committed was sent by a client, as sent: none "
           "forged, invented or altered.")
    protocols = ("pbft",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

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
        figures = {"committed_requests": seen, "invented": len(invented)}
        if invented:
            return self.verdict(False, listing(invented) + bound_note(record),
                                witness={"invented": invented[:50]}, figures=figures)
        return self.verdict(True, f"every request the {len(honest_states(record))} honest "
                            f"replicas committed ({seen} in all) was sent by a client"
                            + bound_note(record), figures=figures)
