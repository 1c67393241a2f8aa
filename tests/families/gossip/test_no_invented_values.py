"""``no_invented_values``: reads return only values clients broadcast."""

from __future__ import annotations

from pytest_dchaos.families.gossip.checks.no_invented_values import NoInventedValues
from pytest_dchaos.record.history import FAIL, INFO, History
from pytest_dchaos.record.result import Verdict
from tests.builders import broadcast, check_options, history, read, record


def judge(h: History) -> Verdict:
    return NoInventedValues().check(check_options("no_invented_values"), record(h))


def test_passes_when_reads_hold_only_broadcast_values() -> None:
    verdict = judge(history(broadcast(1, 0.0, 0.1), broadcast(2, 0.2, 0.3),
                            read([], 0.05, 0.06), read([1], 0.15, 0.16),
                            read([1, 2], 0.5, 0.6, node="n3")))
    assert verdict.passed, verdict.detail
    assert verdict.detail == "3 reads returned only broadcast values"


def test_a_value_whose_broadcast_is_unknown_may_be_read() -> None:
    verdict = judge(history(broadcast(1, 0.0, 1.0, outcome=INFO), read([1], 1.5, 1.6)))
    assert verdict.passed, verdict.detail


def test_a_value_read_while_its_broadcast_is_in_flight_is_genuine() -> None:
    verdict = judge(history(broadcast(1, 0.0, 1.0), read([1], 0.5, 0.6)))
    assert verdict.passed, verdict.detail


def test_fails_on_a_value_nobody_broadcast_naming_node_time_and_op() -> None:
    verdict = judge(history(broadcast(1, 0.0, 0.1), read([1, 99], 2.0, 2.5, node="n3")))
    assert not verdict.passed
    assert verdict.detail == ("1 value(s) never broadcast: 99 (read on n3 at 2.50s "
                              "(history op 3))")
    assert verdict.witness["invented"] == [99]
    assert verdict.witness["resurrected"] == []


def test_fails_on_a_value_whose_broadcast_definitely_failed() -> None:
    verdict = judge(history(broadcast(7, 0.0, 0.1, outcome=FAIL), read([7], 1.0, 1.2)))
    assert not verdict.passed
    assert verdict.detail == ("1 value(s) whose broadcast definitely failed: 7 (read on n2 "
                              "at 1.20s (history op 3))")
    assert verdict.witness["resurrected"] == [7]


def test_reports_both_kinds_at_once() -> None:
    verdict = judge(history(broadcast(7, 0.0, 0.1, outcome=FAIL), read([7, 8], 1.0, 1.2)))
    assert not verdict.passed
    assert "1 value(s) never broadcast: 8" in verdict.detail
    assert "1 value(s) whose broadcast definitely failed: 7" in verdict.detail


def test_failed_reads_are_not_judged() -> None:
    verdict = judge(history(broadcast(1, 0.0, 0.1), read([1], 0.2, 0.3),
                            read([42], 0.4, 0.5, outcome=FAIL, process="c3")))
    assert verdict.passed, verdict.detail
    assert verdict.detail == "1 reads returned only broadcast values"


def test_fails_when_no_read_succeeded() -> None:
    verdict = judge(history(broadcast(1, 0.0, 0.1), read(None, 0.2, 0.3, outcome=FAIL)))
    assert not verdict.passed
    assert verdict.detail == "no read succeeded, so nothing shows the values are genuine"


def test_fails_on_an_empty_history() -> None:
    assert not judge(History.of([])).passed
