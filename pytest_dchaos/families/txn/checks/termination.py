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
           "`within` of the crash (crash faults, no partition).")
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
