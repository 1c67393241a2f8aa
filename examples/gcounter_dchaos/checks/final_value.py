"""``final_value``: after the heal, every live node reads what the clients were told."""

from __future__ import annotations

from gcounter_dchaos.observations import final_values
from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.record.history import INFO, OK, outcome_of
from pytest_dchaos.record.result import RunRecord, Verdict


class FinalValue(CheckerType[NoOptions]):
    name = "final_value"
    doc = "Every live node reads at least every acknowledged add, and no more than was sent."
    protocols = ("gcounter",)

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        final = final_values(record)
        if final is None:
            return self.verdict(False, "the final phase did not run")
        adds = [(i.value, outcome_of(c)) for i, c in record.history.pairs() if i.f == "add"]
        low = sum(delta for delta, outcome in adds if outcome == OK)
        high = low + sum(delta for delta, outcome in adds if outcome == INFO)
        wrong = {n: v for n, v in final.values.items() if v is None or not low <= v <= high}
        expected = f"acknowledged {low}, at most {high} sent"
        if wrong:
            reads = ", ".join(f"{n} read {v}" if v is not None else f"{n} answered no read"
                              for n, v in sorted(wrong.items()))
            return self.verdict(False, f"{reads}; {expected}", witness={"wrong": wrong})
        return self.verdict(True, f"final reads {dict(final.values)}; {expected}")
