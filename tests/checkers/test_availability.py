"""``availability``: the share of invoked operations that ended ok (Maelstrom's
``--availability``)."""

from __future__ import annotations

from pytest_dchaos.checkers.availability import Availability, AvailabilityOptions
from pytest_dchaos.record.history import FAIL
from tests.builders import assert_options_type_matches, call, check_options, history, record


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
