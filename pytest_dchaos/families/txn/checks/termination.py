"""The ``termination`` check: three-phase commit decides without its coordinator."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_dchaos.families.txn.checks.common import (
    InDoubt,
    InDoubtCheck,
    InDoubtOptions,
    cases_option,
    in_time,
)
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.scenario import schema as s


class Termination(InDoubtCheck):
    name = "termination"
    doc = ("Three-phase commit terminates without its coordinator: every transaction a "
           "crashed coordinator left undecided is decided by its participants within "
           "`within` of the crash (crash faults, no partition). Where the nodes tie their "
           "transactions to client requests (the optional dchaos_state_ok.txns), a client "
           "that read an in-doubt transaction's write, to a key only the waiting "
           "participant lists, within the span it says it was still undecided, fails the "
           "check, and so does a coordinator whose log lacks a commit a client was told "
           "before the crash. The verdict still rests on the nodes' reports: when a "
           "participant decided is its own state, which no client or message shows.")
    blind_to = ("A decision, or when it was taken: the spans are the participants' word "
                "(a false early 'until' goes unseen), the message trace carries no "
                "transaction, and a decision whose writes nobody read shows in no client's "
                "history; without txns nothing in doubt is set against the clients.")
    protocols = ("txn",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the coordinator's crash", 2.0),
        s.Field("require", s.Bool(), "fail if no transaction was left in doubt", True),
        cases_option(),
    ))
    seen_as = "was left in doubt"
    unshown = "termination was not shown"

    def judge_one(self, d: InDoubt, options: InDoubtOptions, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        if d.until is None:
            return f"{d.node} never decided {d.txn} after {d.coord} crashed", None
        delay = d.until - max(d.down, d.since)
        if delay > options.within:
            return (f"{d.node} decided {d.txn} {delay:.2f}s after {d.coord} crashed "
                    f"(> {options.within:g}s)"), delay
        return None, delay

    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        return (f"{seen} in-doubt decision(s) ({counts['before_decision']} before the "
                f"coordinator decided, {counts['after_decision']} after), each taken without "
                "the coordinator" + in_time(delays))
