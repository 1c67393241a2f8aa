"""``msgs_per_op``: messages per client operation stay within a budget."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dchaos.checkers.msgs_per_op import MsgsPerOp
from pytest_dchaos.record.history import History
from pytest_dchaos.record.result import Verdict
from tests.builders import broadcast, check_options, history, read, record

MESSAGES = {"servers": 30, "clients": 20, "all": 50, "dropped": 2,
            "by_type": {"gossip": 24, "ihave": 6}}


def ten_ops() -> History:
    return history(*(broadcast(i, i, i + 0.5, process=f"c{i}") for i in range(5)),
                   *(read([], i + 0.1, i + 0.2, process=f"c{10 + i}") for i in range(5)))


def judge(entry: str, messages: dict[str, Any], h: History | None = None) -> Verdict:
    return MsgsPerOp().check(check_options(entry), record(h or ten_ops(), messages=messages))


def test_passes_within_the_budget() -> None:
    verdict = judge("msgs_per_op: 5", MESSAGES)
    assert verdict.passed, verdict.detail
    assert verdict.detail == "3.00 servers messages per operation (within the budget of 5)"
    assert dict(verdict.figures) == {"servers": 3.0, "clients": 2.0, "all": 5.0}


def test_the_budget_is_inclusive() -> None:
    assert judge("msgs_per_op: 3", MESSAGES).passed


def test_fails_over_the_budget_naming_the_value_and_the_chattiest_types() -> None:
    verdict = judge("msgs_per_op: {max: 2.5}", MESSAGES)
    assert not verdict.passed
    assert verdict.detail == ("3.00 servers messages per operation (over the budget of 2.5); "
                              "most sent: gossip 24, ihave 6")
    assert dict(verdict.witness["by_type"]) == {"gossip": 24, "ihave": 6}


@pytest.mark.parametrize(("of", "value", "passed"), [("clients", 2.0, True), ("all", 5.0, False)])
def test_of_picks_which_messages_count(of: str, value: float, passed: bool) -> None:
    verdict = judge(f"msgs_per_op: {{max: 4, of: {of}}}", MESSAGES)
    assert verdict.passed is passed
    assert verdict.detail.startswith(f"{value:.2f} {of} messages per operation")


def test_fails_when_no_operation_was_invoked() -> None:
    verdict = judge("msgs_per_op: 5", MESSAGES, History.of([]))
    assert not verdict.passed
    assert verdict.detail == ("no client operation was invoked, so there is no "
                              "messages-per-operation figure to judge")


def test_msgs_per_op_without_a_counted_trace_fails() -> None:
    rec = record(history(broadcast(1, 0.0, 0.1)), messages={})
    verdict = MsgsPerOp().check(check_options("msgs_per_op: 1"), rec)
    assert not verdict.passed and "not counted" in verdict.detail
