"""The checks of Maelstrom's small workloads on hand-made histories: each passes what
Maelstrom accepts and names what it does not."""

from __future__ import annotations

from pytest_dchaos.checkers.availability import Availability, AvailabilityOptions
from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.maelstrom.checks.echo import Echo
from pytest_dchaos.families.maelstrom.checks.final_count import FinalCount
from pytest_dchaos.families.maelstrom.checks.unique_ids import UniqueIds
from pytest_dchaos.families.maelstrom.observations import FINAL_COUNTS, FinalCounts
from pytest_dchaos.record.history import FAIL, INFO
from tests.builders import call, history, record

NONE = NoOptions()


def echo(text: str, start: float, got: str | None = None, outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "echo", text, start, start + 0.01, outcome,
                text if got is None else got)


def test_echo_passes_echoes_that_come_back_as_sent() -> None:
    verdict = Echo().check(NONE, record(history(echo("a", 0), echo("b", 1))))
    assert verdict.passed and "all 2 echoes" in verdict.detail


def test_echo_names_an_echo_that_came_back_changed_or_not_at_all() -> None:
    rec = record(history(echo("a", 0), echo("b", 1, got="c"), echo("d", 2, outcome=FAIL)))
    verdict = Echo().check(NONE, rec)
    assert not verdict.passed
    assert "'b' to n1 at 1.00s came back as 'c'" in verdict.detail
    assert "'d' to n1 at 2.00s ended fail" in verdict.detail


def generate(id_: object, start: float, node: str = "n1", outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "generate", None, start, start + 0.01, outcome, id_, node)


def test_unique_ids_names_an_id_handed_out_twice() -> None:
    rec = record(history(generate(1, 0), generate(2, 1), generate(1, 2, node="n2")))
    verdict = UniqueIds().check(NONE, rec)
    assert not verdict.passed
    assert "1 of 3 ids handed out again" in verdict.detail
    assert "c1 from n2 at 2.01s (history op 5) got 1, as c1 from n1 at 0.01s" in verdict.detail


def test_unique_ids_tells_json_values_apart_and_ignores_unknown_generates() -> None:
    rec = record(history(generate(1, 0), generate("1", 1), generate([1, "a"], 2),
                         generate({"n": 1}, 3), generate(1, 4, outcome=INFO)))
    assert UniqueIds().check(NONE, rec).passed


def test_availability_counts_every_invocation_that_did_not_end_ok() -> None:
    ops = history(generate(1, 0), generate(None, 1, outcome=FAIL),
                  call("c2", "generate", None, 2.0, None))
    verdict = Availability().check(AvailabilityOptions(min=1.0), record(ops))
    assert not verdict.passed
    assert "1 of 3 operations ok" in verdict.detail
    assert "the first: generate by c1 on n1 at 1.00s ended fail" in verdict.detail
    assert Availability().check(AvailabilityOptions(min=0.3), record(ops)).passed


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
