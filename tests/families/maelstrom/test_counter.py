"""The counters' acceptable final values: Maelstrom's range set over the unknown adds."""

from __future__ import annotations

from pytest_dchaos.families.maelstrom.counter import acceptable
from pytest_dchaos.record.history import FAIL, INFO
from tests.builders import call, history


def add(delta: int, start: float, outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "add", delta, start, start + 0.1, outcome, delta)


def test_acknowledged_adds_sum_and_failed_ones_do_not_count() -> None:
    allowed = acceptable(history(add(3, 0), add(4, 1), add(5, 2, FAIL)))
    assert allowed.intervals == ((7, 7),)
    assert 7 in allowed and 12 not in allowed and 8 not in allowed


def test_each_unknown_add_may_count_or_not() -> None:
    allowed = acceptable(history(add(1, 0), add(10, 1, INFO), add(20, 2, INFO)))
    # 1, plus any subset of {10, 20}: a union of points, not the range 1..31.
    assert allowed.intervals == ((1, 1), (11, 11), (21, 21), (31, 31))
    assert 21 in allowed and 15 not in allowed
    assert "2 add(s) of unknown outcome" in allowed.describe()


def test_negative_unknown_adds_reach_below_the_acknowledged_sum() -> None:
    allowed = acceptable(history(add(5, 0), add(-2, 1, INFO), add(-1, 2, INFO)))
    assert allowed.intervals == ((2, 5),)  # 5, 4, 3, 2: adjacent points merge


def test_an_add_that_never_completed_is_unknown() -> None:
    ops = call("c2", "add", 2, 0.0, None)
    assert acceptable(history(ops, add(1, 1))).intervals == ((1, 1), (3, 3))
