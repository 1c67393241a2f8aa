"""The ``isolation`` check: Elle-style anomalies, judged from the client history.

The dependency graph comes from what clients saw (:mod:`.dependencies` says what that can
and cannot show); the nodes' reported versions, when they offer them, only add version
order, after a cross-check against the history that fails the check where they disagree.
So a node that reports nothing is judged black-box, and one that reports is judged no more
leniently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.txn.checks.common import Facts, facts, listing
from pytest_dchaos.families.txn.checks.dependencies import ANOMALIES, MODELS, Anomaly, analyse
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

#: How many anomalies of each name, and mismatches, the verdict's witness keeps.
KEPT = 20


@dataclass(frozen=True)
class IsolationOptions:
    #: Anomaly names: internal, garbage, G0, G1a, G1b, G1c, G-single, G2, lost-update.
    allow: tuple[str, ...]
    #: An Elle consistency model (:data:`MODELS`): what it does not proscribe is allowed.
    model: str = "serializable"

    def allowed(self) -> frozenset[str]:
        """The anomalies reported, not failed: those the model allows, and ``allow``."""
        return frozenset(n for n in ANOMALIES if n not in MODELS[self.model]) | set(self.allow)


class Isolation(CheckerType[IsolationOptions]):
    name = "isolation"
    doc = ("Isolation anomalies found as Elle finds them, from the client history alone: "
           "a dependency graph of the committed transactions (wr from each read's value; "
           "ww and rw from each key's version order, as far as reads and writes show it: "
           "the initial state first, a transaction's read before its write) and its "
           "cycles, each named by its own edges: G0 (ww only, a dirty write), G1c (ww and "
           "wr), G-single (exactly one rw: read skew), G2 (two or more rw: write skew); "
           "also G1a (aborted read), G1b (intermediate read) and lost update. The nodes' "
           "reported versions, if they offer them, add version order after a cross-check "
           "against the history; a mismatch fails the check. Strict two-phase locking "
           "allows none. A read that contradicts its own transaction (internal) or returns "
           "a value nobody wrote (garbage) fails at every model; `model` "
           "(read-uncommitted, read-committed, ..., serializable, the default) says which "
           "of the others fail.")
    blind_to = ("What no read shows: a committed write nobody reads afterwards (lost or "
                "not), the order of blind writes no read connects (without reported "
                "versions), and transactions whose outcome the client never learnt unless "
                "their writes were read; anomalies among those go unseen.")
    protocols = ("txn", "txn-rw-register")
    evidence = "observed"
    options = s.Struct((s.Field("allow", s.ListOf(s.Str(ANOMALIES)),
                                "anomalies this scenario tolerates (reported, not failed): "
                                "G2 is two or more anti-dependencies (write skew, which "
                                "snapshot isolation allows), not G-single", ()),
                       s.Field("model", s.Str(tuple(MODELS)),
                               "the consistency model the history is judged at, as "
                               "Maelstrom's --consistency-models names it: the anomalies "
                               "it does not proscribe are reported, not failed",
                               "serializable")))
    options_type = IsolationOptions

    def check(self, options: IsolationOptions, record: RunRecord) -> Verdict:
        f = facts(record)
        result = analyse(f)
        found = result.anomalies
        figures: dict[str, Any] = {name: len(found[name]) for name in ANOMALIES}
        figures.update(transactions=result.transactions, edges=result.graph.count(),
                       versions_reported_by=list(f.reporters),
                       mismatches=len(result.mismatches), overruled=len(result.overruled))
        basis = _basis(f)
        # The history alone is observed evidence; reported versions, once cross-checked,
        # add to it.
        rests_on: EvidenceKind = "both" if f.reporters else "observed"
        if result.mismatches:
            return self.verdict(
                False, f"the versions the nodes report contradict the client history: "
                f"{listing(result.mismatches)}", witness={
                    "mismatches": result.mismatches[:KEPT], **_witness(f, found, ())},
                figures=figures, evidence=rests_on)
        allowed = options.allowed()
        bad = [n for n in ANOMALIES if found[n] and n not in allowed]
        if bad:
            parts = [f"{n}: {len(found[n])} ({found[n][0].detail})" for n in bad]
            witness = _witness(f, found, bad)
            if result.overruled:
                witness["overruled"] = result.overruled[:KEPT]
            return self.verdict(False, "; ".join(parts) + f" ({basis})", witness=witness,
                                figures=figures, evidence=rests_on)
        tolerated = [f"{n} {len(found[n])}" for n in ANOMALIES if found[n]]
        committed = sum(1 for c in f.calls if c.outcome == OK)
        unknown = result.transactions - committed
        also = f" and {unknown} unknown that wrote (they may have)" if unknown else ""
        at = "" if options.model == "serializable" else f" {options.model} proscribes"
        return self.verdict(True, f"{committed} committed transactions{also}, no anomaly{at}"
                            + (f" (tolerated: {', '.join(tolerated)})" if tolerated else "")
                            + f" ({basis})", figures=figures, evidence=rests_on)


def _basis(f: Facts) -> str:
    """The evidence the verdict rests on, in words."""
    if not f.reporters:
        return "judged from the client history alone: no node reports versions"
    return (f"judged from the client history, with the version orders reported by "
            f"{f.reported_by()}, cross-checked against it")


def _witness(f: Facts, found: dict[str, list[Anomaly]], names: Iterable[str]
              ) -> dict[str, Any]:
    """The anomalies, with the transactions they name as the clients saw them."""
    out: dict[str, Any] = {}
    named: set[int] = set()
    for name in names:
        out[name] = [a.to_json() for a in found[name][:KEPT]]
        named.update(t for a in found[name][:KEPT] for t in a.txns)
    if named:
        out["transactions"] = {str(c.index): c.describe() for c in f.calls if c.index in named}
    return out
