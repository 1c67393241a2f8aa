"""``availability``: enough client operations succeed (Maelstrom's ``--availability``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.record.history import OK, outcome_of
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class AvailabilityOptions:
    #: The least fraction of invoked operations that must end ok.
    min: float


class Availability(CheckerType[AvailabilityOptions]):
    name = "availability"
    doc = ("At least `min` of the client operations invoked end ok, as Maelstrom's "
           "`--availability` judges: `availability: 1` is its `--availability total` "
           "(every request succeeds, whatever the faults). Final reads count, as in "
           "Maelstrom.")
    blind_to = "Which operations a node answered slowly but in time: that is `latency`'s."
    options = s.Struct((s.Field("min", s.Probability(), "the least fraction that ends ok"),),
                       shorthand="min")
    options_type = AvailabilityOptions

    def check(self, options: AvailabilityOptions, record: RunRecord) -> Verdict:
        outcomes = Counter(outcome_of(c) for _, c in record.history.pairs())
        invoked = sum(outcomes.values())
        if not invoked:
            return self.verdict(False, "no operation was invoked, so availability is unknown")
        fraction = outcomes[OK] / invoked
        figures: dict[str, Any] = {"invoked": invoked, "ok_fraction": round(fraction, 4)}
        figures.update((str(k), n) for k, n in sorted(outcomes.items()))
        passed = fraction >= options.min
        detail = (f"{outcomes[OK]} of {invoked} operations ok ({fraction:.2%}, "
                  f"{'at least' if passed else 'under'} {options.min:.2%})")
        if not passed:
            detail += "; " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())
                                       if k != OK)
            pairs = record.history.pairs()
            first = next(((i, c) for i, c in pairs if outcome_of(c) != OK), None)
            if first is not None:
                invoke, completion = first
                detail += (f"; the first: {invoke.f} by {invoke.process} on {invoke.node} at "
                           f"{invoke.time:.2f}s ended {outcome_of(completion)}"
                           + (f" ({completion.error})" if completion and completion.error
                              else ""))
        return self.verdict(passed, detail, figures=figures)
