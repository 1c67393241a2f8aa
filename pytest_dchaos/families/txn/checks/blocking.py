"""The ``blocking`` check: two-phase commit blocks while its coordinator is down, and
resolves after it recovers.
"""

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


class Blocking(InDoubtCheck):
    name = "blocking"
    doc = ("Two-phase commit blocks, as it must: a participant that voted yes and lost its "
           "coordinator stays undecided (holding its locks) while the coordinator is down, "
           "and decides within `within` of the coordinator's restart. A decision the "
           "coordinator sent before it went down, arriving just after (the message trace "
           "shows it), is no failure to block. Where the nodes tie their transactions to "
           "client requests (the optional dchaos_state_ok.txns), what the clients saw is "
           "set against the reports: a client that read an in-doubt transaction's write, to "
           "a key only the blocked participant lists, wholly within the span it says it "
           "was undecided, fails the check; a client told 'committed' before the "
           "coordinator crashed shows the coordinator had decided (the case is taken from "
           "that), and a coordinator whose log then lacks the commit fails it. The verdict "
           "still rests on the nodes' reports: staying undecided, locks held, is a "
           "participant's own state, which no client or message shows.")
    blind_to = ("A lock or an undecided state: the blocked spans are the participants' "
                "word, so one that decided alone yet reports itself blocked goes unseen "
                "unless a client read the transaction's write within the span; without txns "
                "nothing in doubt is set against the clients.")
    protocols = ("txn",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the coordinator's restart by which every "
                "blocked participant decides", 1.0),
        s.Field("require", s.Bool(), "fail if no participant was seen blocked at all", True),
        cases_option(),
    ))
    seen_as = "was blocked"
    unshown = "blocking was not shown (crash a coordinator mid-commit)"

    def judge_one(self, d: InDoubt, options: InDoubtOptions, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        if d.until is None:
            if d.back is None:
                return None, None  # the coordinator never came back: blocked to the end
            return (f"{d.node} still has {d.txn} undecided, though {d.coord} restarted at "
                    f"+{d.back - record.history.t0:.1f}s"), None
        if d.back is None:
            return (f"{d.node} decided {d.txn} though its coordinator {d.coord} never came "
                    "back: it did not block"), None
        if d.until < d.back - 0.05:
            return (f"{d.node} decided {d.txn} at +{d.until - d.down:.2f}s, while its "
                    f"coordinator {d.coord} was still down: it did not block"), None
        delay = d.until - d.back
        if delay > options.within:
            return (f"{d.node} decided {d.txn} {delay:.2f}s after {d.coord} restarted "
                    f"(> {options.within:g}s)"), delay
        return None, delay

    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        return (f"{seen} participant(s) blocked while their coordinator was down "
                f"({counts['before_decision']} before it decided, "
                f"{counts['after_decision']} after) and decided after it came back"
                + in_time(delays))
