"""The ``agreement`` check: PBFT's safety, over the honest replicas' committed logs."""

from __future__ import annotations

from collections import defaultdict

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    canonical_json,
    committed_entries,
    honest_states,
    listing,
    no_state,
)
from pytest_dchaos.record.result import RunRecord, Verdict


class Agreement(CheckerType[NoOptions]):
    name = "agreement"
    doc = ("No two honest replicas commit different requests (or batches) at one sequence "
           "number (PBFT's safety).")
    protocols = ("pbft",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        missing = no_state(self, record)
        if missing:
            return missing
        by_seq: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for node, state in sorted(honest_states(record).items()):
            for seq, slot in committed_entries(state).items():
                by_seq[seq][canonical_json(slot)].append(node)
        conflicts = []
        for seq in sorted(by_seq):
            if len(by_seq[seq]) > 1:
                sides = " vs ".join("+".join(nodes) for nodes in by_seq[seq].values())
                conflicts.append(f"seq {seq}: {sides} committed different requests")
        note = bound_note(record)
        figures = {"sequence_numbers": len(by_seq), "conflicts": len(conflicts),
                   "bound_broken": bool(note)}
        if conflicts:
            return self.verdict(False, listing(conflicts) + note,
                                witness={"conflicts": conflicts[:50]}, figures=figures)
        replicas = len(honest_states(record))
        return self.verdict(True, f"{replicas} honest replicas agree on every one of "
                            f"{len(by_seq)} sequence numbers" + note, figures=figures)
