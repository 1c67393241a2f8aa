"""``availability``: the share of invoked operations that ended ok (Maelstrom's
``--availability``)."""

from __future__ import annotations

from dataclasses import replace

from pytest_dchaos.checkers.availability import Availability, AvailabilityOptions
from pytest_dchaos.record.history import FAIL, INFO, TAKEN_DOWN
from tests.builders import (
    assert_options_type_matches,
    call,
    check_options,
    fault,
    history,
    isolation_links,
    record,
)


def generate(id_: object, start: float, outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "generate", None, start, start + 0.01, outcome, id_)


def test_availability_counts_every_invocation_that_did_not_end_ok() -> None:
    ops = history(generate(1, 0), generate(None, 1, outcome=FAIL),
                  call("c2", "generate", None, 2.0, None))
    verdict = Availability().check(AvailabilityOptions(min=1.0), record(ops))
    assert not verdict.passed
    assert "1 of 3 operations ok" in verdict.detail
    assert "the first: generate by c1 on n1 at 1.00s ended fail" in verdict.detail
    assert Availability().check(AvailabilityOptions(min=0.3), record(ops)).passed


def test_availability_passes_when_every_operation_ended_ok() -> None:
    verdict = Availability().check(AvailabilityOptions(min=1.0),
                                   record(history(generate(1, 0), generate(2, 1))))
    assert verdict.passed and "2 of 2 operations ok (100.00%" in verdict.detail


def test_availability_fails_a_run_without_operations() -> None:
    assert not Availability().check(AvailabilityOptions(min=0.5), record(history())).passed


def test_availability_options() -> None:
    assert_options_type_matches(Availability())
    assert check_options("availability: 1") == AvailabilityOptions(min=1.0)


def undelivered(process: str, start: float, node: str = "n1") -> list:  # type: ignore[type-arg]
    """A request the harness refused to deliver: its node was down."""
    invoke, done = call(process, "generate", None, start, start + 0.001, FAIL, node=node)
    return [invoke, replace(done, error=f"{TAKEN_DOWN}{node} is not running")]


def test_operations_out_of_their_nodes_reach_are_not_counted() -> None:
    # n1 killed from 1 s to 3 s: a request refused at 1.5 s (never delivered) and one that
    # timed out while n1 was down are not the node's; one that failed at 4 s, n1 up, is.
    ops = history(generate(1, 0), undelivered("c1", 1.5),
                  call("c2", "generate", None, 0.9, 2.0, INFO),
                  generate(2, 3.5), generate(None, 4.0, outcome=FAIL))
    down = [fault(1.0, "start", "k", "crash", ["n1"]), fault(3.0, "end", "k", "crash", ["n1"])]
    verdict = Availability().check(AvailabilityOptions(min=1.0), record(ops, faults=down))
    assert not verdict.passed
    assert "2 of 3 operations ok" in verdict.detail
    assert "2 more not counted: out of their node's reach" in verdict.detail
    assert "the first: generate by c1 on n1 at 4.00s ended fail" in verdict.detail
    assert verdict.figures["out_of_reach"] == 2


def test_a_node_down_is_no_excuse_for_another_nodes_failures() -> None:
    ops = history(generate(1, 0), call("c2", "generate", None, 1.5, 1.6, FAIL, node="n2"))
    down = [fault(1.0, "start", "k", "crash", ["n1"]), fault(3.0, "end", "k", "crash", ["n1"])]
    verdict = Availability().check(AvailabilityOptions(min=1.0), record(ops, faults=down))
    assert not verdict.passed and "1 of 2 operations ok" in verdict.detail


def test_a_partition_excuses_nothing_total_availability_is_about_it() -> None:
    ops = history(generate(1, 0), generate(None, 1.5, outcome=FAIL))
    cut = [fault(1.0, "start", "p", "cut", links=isolation_links("n1", ("n1", "n2", "n3"))),
           fault(3.0, "end", "p", "cut", links=isolation_links("n1", ("n1", "n2", "n3")))]
    verdict = Availability().check(AvailabilityOptions(min=1.0), record(ops, faults=cut))
    assert not verdict.passed and "not counted" not in verdict.detail
