"""``final_count``: the final reads against Maelstrom's acceptable values, and stricter."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.maelstrom.checks.final_count import FinalCount
from pytest_dchaos.families.maelstrom.observations import FINAL_COUNTS, FinalCounts
from pytest_dchaos.record.history import INFO
from tests.builders import call, history, record

NONE = NoOptions()


def add(delta: int, start: float, outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "add", delta, start, start + 0.1, outcome, delta)


ADDS = history(add(3, 0), add(4, 1), add(2, 2, INFO))  # 7, or 9 if the unknown one landed


def final(reads: dict[str, int], unread: tuple[str, ...] = ()) -> dict[str, FinalCounts]:
    return {FINAL_COUNTS: FinalCounts(healed_at=20.0, deadline=30.0, settled_at=21.0,
                                      live_nodes=("n1", "n2", "n3"), final_reads=reads,
                                      unread=unread)}


def test_final_count_allows_an_unknown_add_to_count_or_not() -> None:
    for value in (7, 9):
        rec = record(ADDS, observations=final({"n1": value, "n2": value, "n3": value}))
        verdict = FinalCount().check(NONE, rec)
        assert verdict.passed, verdict.detail
    assert "7, 9 (acknowledged adds sum to 7" in verdict.detail


def test_final_count_names_a_node_short_of_the_sum_and_one_that_never_answered() -> None:
    rec = record(ADDS, observations=final({"n1": 7, "n2": 4}, unread=("n3",)))
    verdict = FinalCount().check(NONE, rec)
    assert not verdict.passed
    assert "n2 read 4; n3 answered no final read" in verdict.detail


def test_final_count_is_stricter_than_maelstrom_nodes_must_agree() -> None:
    rec = record(ADDS, observations=final({"n1": 7, "n2": 9, "n3": 9}))
    verdict = FinalCount().check(NONE, rec)
    assert not verdict.passed and "still disagree" in verdict.detail


def test_final_count_fails_without_a_final_phase() -> None:
    assert not FinalCount().check(NONE, record(ADDS)).passed
