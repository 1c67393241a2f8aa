"""What a counter may read once every add has landed: Maelstrom's acceptable set.

An acknowledged add certainly happened; an add whose outcome is unknown (timed out,
crashed mid-request) may or may not have; a failed add did not. So a final read must be
the sum of the acknowledged deltas plus the deltas of any subset of the unknown ones —
for a pn-counter a union of intervals, not one range (Maelstrom's ``TreeRangeSet``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.record.history import INFO, OK, History, outcome_of

#: A closed interval of integers, ``(low, high)``.
Interval = tuple[int, int]


@dataclass(frozen=True)
class Acceptable:
    """The values a final read may hold, with the figures that made them."""

    #: The sum of the acknowledged deltas.
    definite: int
    #: How many adds ended unknown (each may count or not).
    unknown: int
    intervals: tuple[Interval, ...]

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and any(lo <= value <= hi for lo, hi in self.intervals)

    def describe(self) -> str:
        spans = ", ".join(str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in self.intervals)
        if not self.unknown:
            return f"the sum of the acknowledged adds, {self.definite}"
        return (f"{spans} (acknowledged adds sum to {self.definite}; {self.unknown} add(s) "
                "of unknown outcome may count or not)")


def acceptable(history: History) -> Acceptable:
    """The acceptable final values after ``history``'s adds."""
    definite, maybe = 0, []
    for invoke, completion in history.pairs():
        if invoke.f != "add" or not isinstance(invoke.value, int):
            continue
        outcome = outcome_of(completion)
        if outcome == OK:
            definite += invoke.value
        elif outcome == INFO and invoke.value:
            maybe.append(invoke.value)
    intervals: list[Interval] = [(definite, definite)]
    for delta in maybe:
        intervals = _merge(intervals + [(lo + delta, hi + delta) for lo, hi in intervals])
    return Acceptable(definite, len(maybe), tuple(intervals))


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Sorted, with overlapping or adjacent intervals joined (integers: 3..4 and 5..6 are
    3..6)."""
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
