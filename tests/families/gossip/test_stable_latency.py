"""``stable_latency``: time until a broadcast value is in every later read."""

from __future__ import annotations

import pytest

from pytest_dchaos.families.gossip.checks.stable_latency import StableLatency, stable_latencies
from pytest_dchaos.record.history import FAIL, History
from pytest_dchaos.record.result import Verdict
from tests.builders import broadcast, check_options, history, read, record


def gossip_history(last_read: list[int] | None = None) -> History:
    """Value 1 becomes stable 1.5s after its broadcast, value 2 after 1.0s."""
    return history(
        broadcast(1, 1.0, 1.1),
        broadcast(2, 2.0, 2.1, process="c3"),
        read([], 0.5, 0.6),
        read([], 1.5, 1.6),  # 1 not there yet
        read([1], 2.5, 2.6),  # 1 stable from here; 2 not yet
        read([1, 2], 3.0, 3.1, node="n3"),  # 2 stable from here
        read([1, 2] if last_read is None else last_read, 4.0, 4.1),
    )


def judge(h: History, entry: str) -> Verdict:
    return StableLatency().check(check_options(entry), record(h))


def test_stable_latencies_follow_maelstrom() -> None:
    latencies, lost = stable_latencies(gossip_history())
    assert latencies == {1: pytest.approx(1.5), 2: pytest.approx(1.0)}
    assert lost == set()


def test_a_value_missing_from_a_later_read_is_not_stable_yet() -> None:
    h = history(broadcast(1, 0.0, 0.1), read([1], 1.0, 1.1), read([], 2.0, 2.1),
                read([1], 3.0, 3.1))
    latencies, lost = stable_latencies(h)
    assert latencies == {1: pytest.approx(3.0)}
    assert lost == set()


def test_a_value_missing_from_the_last_read_is_lost() -> None:
    latencies, lost = stable_latencies(gossip_history(last_read=[1]))
    assert latencies == {1: pytest.approx(1.5)}
    assert lost == {2}


def test_failed_reads_do_not_count() -> None:
    h = history(broadcast(1, 0.0, 0.1), read([1], 1.0, 1.1),
                read(None, 2.0, 2.1, outcome=FAIL))
    assert stable_latencies(h) == ({1: pytest.approx(1.0)}, set())


def test_passes_under_the_bound() -> None:
    verdict = judge(gossip_history(), "stable_latency: {p99: 2s}")
    assert verdict.passed, verdict.detail
    assert verdict.detail == "2 values: p99 1500ms ≤ 2000ms"
    assert verdict.figures["max"] == pytest.approx(1500.0)
    assert verdict.figures["p0"] == pytest.approx(1000.0)
    assert dict(verdict.witness["slowest"]) == {"1": 1.5, "2": 1.0}


def test_fails_over_the_bound_naming_the_quantile_and_value() -> None:
    verdict = judge(gossip_history(), "stable_latency: {p50: 2s, max: 1s}")
    assert not verdict.passed
    assert verdict.detail == "2 values: p50 1000ms ≤ 2000ms, max 1500ms > 1000ms"


def test_lost_values_are_mentioned() -> None:
    verdict = judge(gossip_history(last_read=[1]), "stable_latency: {max: 2s}")
    assert verdict.passed, verdict.detail
    assert verdict.detail == "1 values: max 1500ms ≤ 2000ms (1 never stable: see convergence)"


def test_fails_when_nothing_became_stable() -> None:
    h = history(broadcast(1, 0.0, 0.1), read([], 1.0, 1.1))
    verdict = judge(h, "stable_latency: {p99: 1s}")
    assert not verdict.passed
    assert "no acknowledged broadcast became stable" in verdict.detail


def test_fails_on_an_empty_history() -> None:
    verdict = judge(History.of([]), "stable_latency: {p99: 1s}")
    assert not verdict.passed
