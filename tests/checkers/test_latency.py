"""``latency``: latency quantiles of acknowledged client operations stay under bounds."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_dchaos.checkers.latency import Bounds, Latency, check_bounds
from pytest_dchaos.record.history import FAIL, INFO, History
from pytest_dchaos.record.result import Verdict
from tests.builders import broadcast, check_options, history, read, record


def mixed() -> History:
    """Broadcasts taking 10..100ms, reads taking 200ms, and slow ops that did not succeed."""
    broadcasts = [broadcast(i, float(i), i + (i + 1) / 100, process=f"c{i}") for i in range(10)]
    reads = [read([], 20.0 + i, 20.2 + i, process=f"c{20 + i}") for i in range(2)]
    slow = [broadcast(99, 30.0, 35.0, outcome=INFO, process="c40"),
            read(None, 31.0, 36.0, outcome=FAIL, process="c41")]
    return history(*broadcasts, *reads, *slow)


def judge(entry: str, h: History | None = None) -> Verdict:
    return Latency().check(check_options(entry), record(h if h is not None else mixed()))


def test_passes_under_the_bounds() -> None:
    verdict = judge("latency: {p50: 100ms, max: 300ms}")
    assert verdict.passed, verdict.detail
    assert verdict.detail == "12 operations: p50 60ms ≤ 100ms, max 200ms ≤ 300ms"
    assert verdict.figures["count"] == 12
    assert verdict.figures["p0"] == pytest.approx(10.0)


def test_fails_over_a_bound_naming_quantile_value_and_bound() -> None:
    verdict = judge("latency: {p99: 150ms}")
    assert not verdict.passed
    assert verdict.detail == "12 operations: p99 200ms > 150ms"


def test_unsuccessful_operations_do_not_count() -> None:
    # The info broadcast (5s) and the failed read (5s) would break a 1s bound.
    assert judge("latency: {max: 1s}").passed


def test_f_restricts_to_one_operation() -> None:
    verdict = judge("latency: {max: 100ms, f: broadcast}")
    assert verdict.passed, verdict.detail
    assert verdict.detail == "10 broadcast operations: max 100ms ≤ 100ms"
    assert not judge("latency: {max: 100ms, f: read}").passed


def test_fails_with_no_acknowledged_operation() -> None:
    verdict = judge("latency: {p99: 1s, f: cas}")
    assert not verdict.passed
    assert verdict.detail == "no acknowledged cas operations to measure"
    empty = judge("latency: {p99: 1s}", History.of([]))
    assert not empty.passed
    assert empty.detail == "no acknowledged operations to measure"


def test_check_bounds_compares_milliseconds_with_seconds() -> None:
    observed = {"p50": 40.0, "p95": 90.0, "p99": None, "max": 120.0}
    assert check_bounds(observed, Bounds(p50=0.05, p95=None, p99=None, max=None)) == (
        True, ["p50 40ms ≤ 50ms"])
    assert check_bounds(observed, Bounds(p50=None, p95=0.08, p99=1.0, max=0.12)) == (
        False, ["p95 90ms > 80ms", "p99: no data", "max 120ms ≤ 120ms"])


def test_latency_check_options_are_read_only() -> None:
    options = check_options("latency: {p50: 1s}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.p50 = 2.0
