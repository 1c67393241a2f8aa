"""The ``txn_outcomes`` check: what each client was told about its transaction holds."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.txn.checks.common import Call, Facts, facts, listing, no_state
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict


class Outcomes(CheckerType[NoOptions]):
    name = "txn_outcomes"
    doc = ("What each client was told holds: an ok transaction committed (its writes are "
           "installed, its reads returned committed values or its own writes), a failed "
           "one (abort, code 14 or 30) committed nothing. Unknown outcomes are counted "
           "as they turned out: by the reported versions, else by the decisions of the "
           "nodes' transactions tied to the call (the optional dchaos_state_ok.txns).")
    blind_to = ("Whether a write was installed is the nodes' word (versions, cross-checked "
                "against the reads): without versions only the reads are judged; an unknown "
                "outcome is counted, never failed. What the nodes decided against what the "
                "clients were told is atomicity's.")
    protocols = ("txn",)
    evidence = "both"
    requires = frozenset({"dchaos_state"})

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        if (refused := no_state(self, record)) is not None:
            return refused
        f = facts(record)
        problems: list[str] = []
        turned = {"commit": 0, "abort": 0, "unknown": 0}
        for call in f.calls:
            committed = f.committed(call)
            if call.outcome == FAIL and committed:
                problems.append(f"told aborted, but committed: {call.describe()} "
                                f"({f.where(call)})")
            elif call.outcome == OK and committed is False:
                problems.append(f"told ok, but not committed: {call.describe()} "
                                f"({f.where(call)})")
            elif call.outcome not in (OK, FAIL) and call.writes:
                if committed is None:
                    committed = _decided(f, call)
                turned["commit" if committed else "abort" if committed is False
                       else "unknown"] += 1
            if call.outcome == OK:
                problems += _bad_reads(f, call)
        counts = {o: sum(1 for c in f.calls if c.outcome == o) for o in ("ok", "fail", "info")}
        figures = {**counts, "info_turned": turned}
        # With neither versions nor ties reported, only the reads were judged: the history.
        evidence: EvidenceKind = "both" if f.reporters or f.ties.call_of else "observed"
        if problems:
            return self.verdict(False, listing(problems), witness={"problems": problems[:50]},
                                figures=figures, evidence=evidence)
        if not counts["ok"]:
            return self.verdict(False, "no transaction committed, so no outcome shows the "
                                "store works", figures=figures, evidence=evidence)
        return self.verdict(True, f"{counts['ok']} ok, {counts['fail']} aborted, "
                            f"{counts['info']} unknown (of which {turned['commit']} committed, "
                            f"{turned['abort']} did not): every outcome holds (the client "
                            f"history against the versions reported by {f.reported_by()}"
                            + ("" if f.reporters else ": writes not judged") + ")",
                            figures=figures, evidence=evidence)


def _decided(f: Facts, call: Call) -> bool | None:
    """How the nodes decided the transactions tied to ``call``: True if one committed,
    False if every one is reported aborted, None if undecided or not tied."""
    txns = f.ties.attempts.get(call.index, [])
    said = [set(f.decisions.get(t, {}).values()) for t in txns]
    if any("commit" in d for d in said):
        return True
    if said and all(d == {"abort"} for d in said):
        return False
    return None


def _bad_reads(f: Facts, call: Call) -> list[str]:
    """Reads that are neither the transaction's own earlier write nor a committed value."""
    problems = []
    own: dict[int, Any] = {}
    for op in call.ops:
        kind, key, value = op
        if kind == "w":
            own[key] = value
            continue
        if key in own:
            if value != own[key]:
                problems.append(f"txn {call.index} read key {key} = {value} after writing "
                                f"{own[key]} to it itself")
        elif value is not None and f.writer.get((key, value)) is None:
            problems.append(f"txn {call.index} read key {key} = {value}, which no client "
                            "wrote")
    return problems
