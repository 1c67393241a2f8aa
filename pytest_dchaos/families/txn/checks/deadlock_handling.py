"""The ``deadlock_handling`` check: real deadlocks found and broken in time, no false
ones, and each victim's client told it aborted.

The cycles and their victims are what the nodes report (``deadlocks``, ``victims``): the
harness cannot see a lock wait. Where the nodes tie their transactions to the client calls
that started them (``txns``), a victim's abort is set against what its client was told —
observed — and the verdict rests on both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.txn.checks.common import Facts, facts, listing
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class DeadlockHandlingOptions:
    within: float
    require: bool


class DeadlockHandling(CheckerType[DeadlockHandlingOptions]):
    name = "deadlock_handling"
    doc = ("Every deadlock the nodes found was a real cycle of waits, confirmed edge by edge, "
           "and was broken by aborting one of its transactions within `within` of forming; "
           "no transaction was aborted as a deadlock victim outside such a cycle. Where the "
           "nodes tie their transactions to client requests (the optional "
           "dchaos_state_ok.txns), no victim is reported committed, no victim's client was "
           "told it committed, and a victim's client that was never told it aborted is "
           "noted; the verdict then rests on both.")
    blind_to = ("The cycles, their forming and breaking times are the nodes' word: a "
                "deadlock no node reports, and one that dissolved by a lock-wait timeout, go "
                "unseen; without txns nothing the clients saw is set against them.")
    protocols = ("txn",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})
    options = s.Struct((
        s.Field("within", s.Duration(), "time from a cycle forming to its victim's abort",
                1.0),
        s.Field("require", s.Bool(), "fail if no deadlock happened at all", True),
    ))
    options_type = DeadlockHandlingOptions

    def check(self, options: DeadlockHandlingOptions, record: RunRecord) -> Verdict:
        found = [d for st in record.node_states.values() for d in st.get("deadlocks") or []]
        victims = [v for st in record.node_states.values() for v in st.get("victims") or []]
        problems = []
        cycles = {d["victim"]: d for d in found}
        delays = []
        for d in found:
            if d["victim"] not in d.get("cycle", []):
                problems.append(f"victim {d['victim']} is not in its cycle {d.get('cycle')}")
            if d.get("formed") is not None:
                delays.append(d["t"] - d["formed"])
                if d["t"] - d["formed"] > options.within:
                    problems.append(f"the cycle {d.get('cycle')} stood "
                                    f"{d['t'] - d['formed']:.2f}s before it was broken")
        for victim in victims:
            if victim["txn"] not in cycles:
                problems.append(f"{victim['txn']} was aborted as a deadlock victim, but no "
                                "confirmed cycle names it")
        said: dict[str, list[str]] = {}  # victim -> the nodes that report it
        for node, st in sorted(record.node_states.items()):
            for txn in [d.get("victim") for d in st.get("deadlocks") or []] + [
                    v.get("txn") for v in st.get("victims") or []]:
                if isinstance(txn, str) and node not in said.setdefault(txn, []):
                    said[txn].append(node)
        f = facts(record)
        told = _against_clients(f, said)
        problems += told.problems
        figures = {"deadlocks": len(found), "victims": len(victims),
                   "max_break_s": round(max(delays), 3) if delays else None,
                   "victims_tied": told.tied, "victims_told_abort": told.aborted,
                   "victims_never_told": len(told.untold)}
        # The victims' fates rest on what the clients saw where some victim is tied.
        rests_on: EvidenceKind = "both" if told.tied else "reported"
        if problems:
            return self.verdict(False, listing(problems), figures=figures,
                                witness={"never_told": told.untold[:50]} if told.untold
                                else None, evidence=rests_on)
        if not found and options.require:
            return self.verdict(False, "no deadlock happened, so deadlock handling was not "
                                "shown (more contention: fewer keys, more operations)",
                                figures=figures, evidence=rests_on)
        return self.verdict(True, f"{len(found)} deadlock(s), each a confirmed cycle broken "
                            "by one victim" + (f" within {max(delays):.2f}s" if delays else "")
                            + f" (as the nodes report them); {told.words(f, len(said))}",
                            figures=figures, witness={"never_told": told.untold[:50]}
                            if told.untold else None, evidence=rests_on)


@dataclass
class Told:
    """The victims set against what their clients were told."""

    problems: list[str]
    tied: int  # victims tied to a client call
    aborted: int  # of those, how many clients were told they aborted
    untold: list[str]  # victims whose client was never told (timeouts), in words

    def words(self, f: Facts, victims: int) -> str:
        if not victims:
            return "no victim to set against what its client was told"
        if not f.ties.available:
            return (f"{f.ties.unavailable}, so no victim's abort was set against what its "
                    "client was told")
        untold = (f"; {len(self.untold)} never told their outcome: "
                  f"{listing(self.untold)}" if self.untold else "")
        return (f"of {victims} victim(s), {self.tied} tied to a client call (the txns of "
                f"{', '.join(f.ties.reporters)}), {self.aborted} of whose clients were told "
                f"they aborted{untold}")


def _against_clients(f: Facts, said: dict[str, list[str]]) -> Told:
    """Each victim tied to a client call: it must not be reported committed, nor its
    client told "committed" (unless another transaction tied to the same call committed:
    a node that retries a request); a client never told is noted."""
    told = Told([], 0, 0, [])
    for txn, reporters in said.items():
        call = f.ties.call_of.get(txn)
        if call is None:
            continue
        told.tied += 1
        who = ", ".join(reporters)
        committers = sorted(n for n, d in f.decisions.get(txn, {}).items() if d == "commit")
        retried = any("commit" in f.decisions.get(t, {}).values()
                      for t in f.ties.attempts.get(call.index, []) if t != txn)
        if committers:
            told.problems.append(f"{who} report(s) {txn} as a deadlock victim, but "
                                 f"{', '.join(committers)} report(s) it committed: the cycle "
                                 "was not broken by aborting it")
        elif call.outcome == OK and not retried:
            told.problems.append(f"{who} report(s) {txn} aborted as a deadlock victim, but "
                                 f"the client call that started it, {call.named()}, "
                                 f"{call.told()}")
        elif call.outcome == FAIL:
            told.aborted += 1
        elif call.outcome != OK:
            told.untold.append(f"{txn}: {call.named()} {call.told()}")
    return told
