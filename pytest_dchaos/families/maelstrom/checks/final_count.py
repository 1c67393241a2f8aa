"""``final_count``: after the heal every live node reads the sum of the acknowledged adds
(Maelstrom's g-counter and pn-counter checker, and stricter: every live node must answer)."""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.maelstrom.counter import acceptable
from pytest_dchaos.families.maelstrom.observations import final_counts
from pytest_dchaos.record.result import RunRecord, Verdict


class FinalCount(CheckerType[NoOptions]):
    name = "final_count"
    doc = ("After the final heal and recovery, every live node reads the sum of the "
           "acknowledged adds, plus any of the adds whose outcome is unknown (Maelstrom's "
           "bounds); reads during the faults may lag. Stricter than Maelstrom: a live node that "
           "answers no final read fails the check rather than being left out, and the live "
           "nodes must read the same value (each counting a different subset of the "
           "unknown adds is not convergence).")
    blind_to = ("Reads during the run: a node may lag while faults last, so only the final "
                "reads are judged.")
    protocols = ("g-counter", "pn-counter")

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        final = final_counts(record)
        if final is None:
            return self.verdict(False, "the run has no final reads (the final phase did not "
                                "run)")
        if not final.live_nodes:
            return self.verdict(False, "no node was alive at the end to read from")
        allowed = acceptable(record.history)
        expected = allowed.describe()
        figures = {"acknowledged_sum": allowed.definite, "unknown_adds": allowed.unknown,
                   "final_reads": dict(final.final_reads),
                   "settled_s": (None if final.settled_at is None
                                 else round(final.settled_at - final.healed_at, 3))}
        wrong = {n: v for n, v in final.final_reads.items() if v not in allowed}
        problems = [f"{n} read {v}" for n, v in sorted(wrong.items())]
        problems += [f"{n} answered no final read" for n in final.unread]
        values = sorted(set(final.final_reads.values()))
        if not problems and len(values) > 1:
            # Each value may be acceptable (each counts a different subset of the unknown
            # adds), but a counter that has converged reads one value everywhere.
            problems.append("live nodes still disagree: " + ", ".join(
                f"{n} read {v}" for n, v in sorted(final.final_reads.items())))
        if problems:
            return self.verdict(
                False, f"{'; '.join(problems)} after {final.deadline - final.healed_at:.1f}s "
                f"of recovery; expected {expected}",
                witness={"wrong": wrong, "unread": list(final.unread),
                         "acceptable": [list(i) for i in allowed.intervals[:20]]},
                figures=figures)
        return self.verdict(True, f"every live node read {values[0]}; "
                            f"expected {expected}", figures=figures)
