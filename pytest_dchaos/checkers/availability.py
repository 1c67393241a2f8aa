"""``availability``: enough client operations succeed (Maelstrom's ``--availability``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions, out_of_reach
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
           "(every request succeeds, whatever the network does). Final reads count, as in "
           "Maelstrom. An operation out of its node's reach is not counted: one the harness "
           "could not deliver (the node down, or not yet initialised after a restart), or "
           "one outstanding while the fault timeline had its node crashed, stopped, paused "
           "or restarting: no node answers while it is down.")
    blind_to = "Which operations a node answered slowly but in time: that is `latency`'s."
    options = s.Struct((s.Field("min", s.Probability(), "the least fraction that ends ok"),),
                       shorthand="min")
    options_type = AvailabilityOptions

    def check(self, options: AvailabilityOptions, record: RunRecord) -> Verdict:
        conditions = Conditions(record.faults, record.nodes)
        pairs, excused = [], 0
        for invoke, completion in record.history.pairs():
            if outcome_of(completion) != OK and out_of_reach(record, conditions, invoke,
                                                             completion):
                excused += 1
            else:
                pairs.append((invoke, completion))
        outcomes = Counter(outcome_of(c) for _, c in pairs)
        invoked = sum(outcomes.values())
        if not invoked:
            return self.verdict(False, "no operation was invoked that its node could answer, "
                                "so availability is unknown")
        fraction = outcomes[OK] / invoked
        figures: dict[str, Any] = {"invoked": invoked, "ok_fraction": round(fraction, 4),
                                   "out_of_reach": excused}
        figures.update((str(k), n) for k, n in sorted(outcomes.items()))
        passed = fraction >= options.min
        detail = (f"{outcomes[OK]} of {invoked} operations ok ({fraction:.2%}, "
                  f"{'at least' if passed else 'under'} {options.min:.2%})")
        if excused:
            detail += (f"; {excused} more not counted: out of their node's reach (it was "
                       "down, as the harness made it)")
        if not passed:
            detail += "; " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())
                                       if k != OK)
            first = next(((i, c) for i, c in pairs if outcome_of(c) != OK), None)
            if first is not None:
                invoke, completion = first
                detail += (f"; the first: {invoke.f} by {invoke.process} on {invoke.node} at "
                           f"{invoke.time:.2f}s ended {outcome_of(completion)}"
                           + (f" ({completion.error})" if completion and completion.error
                              else ""))
        return self.verdict(passed, detail, figures=figures)
