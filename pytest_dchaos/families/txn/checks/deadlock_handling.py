"""The ``deadlock_handling`` check: real deadlocks found and broken in time, no false
ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.txn.checks.common import listing
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class DeadlockHandlingOptions:
    within: float
    require: bool


class DeadlockHandling(CheckerType[DeadlockHandlingOptions]):
    name = "deadlock_handling"
    doc = ("Every deadlock the nodes found was a real cycle of waits, confirmed edge by edge, "
           "and was broken by aborting one of its transactions within `within` of forming; "
           "no transaction was aborted as a deadlock victim outside such a cycle.")
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
        figures = {"deadlocks": len(found), "victims": len(victims),
                   "max_break_s": round(max(delays), 3) if delays else None}
        if problems:
            return self.verdict(False, listing(problems), figures=figures)
        if not found and options.require:
            return self.verdict(False, "no deadlock happened, so deadlock handling was not "
                                "shown (more contention: fewer keys, more operations)",
                                figures=figures)
        return self.verdict(True, f"{len(found)} deadlock(s), each a confirmed cycle broken "
                            "by one victim" + (f" within {max(delays):.2f}s" if delays else ""),
                            figures=figures)
