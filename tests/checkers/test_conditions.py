"""Cluster conditions rebuilt from the fault timeline: down nodes, cuts, components."""

from __future__ import annotations

import pytest

from pytest_dchaos.checkers.conditions import RESTART_DOWNTIME, Conditions
from tests.builders import fault, isolation_links

NODES = ("n1", "n2", "n3", "n4")


def test_no_faults_everyone_up_and_connected() -> None:
    cond = Conditions([], NODES)
    seg = cond.at(5.0)
    assert seg.down == frozenset() and seg.cut == frozenset()
    assert len(set(seg.component.values())) == 1
    assert not cond.failed("n1", "n2", 5.0)
    assert cond.healthy("n1", "n2", 5.0, settle=3.0)
    assert cond.failure_intervals("n1", "n2", 10.0) == []


def test_crash_without_end_lasts_forever() -> None:
    cond = Conditions([fault(2.0, "start", "f1", "crash", ["n3"])], NODES)
    assert not cond.is_down("n3", 1.99)
    assert cond.is_down("n3", 2.0)
    assert cond.is_down("n3", 1e6)
    assert cond.failed("n1", "n3", 2.5)
    assert not cond.failed("n1", "n2", 2.5)
    assert "n3" not in cond.at(2.5).component
    assert cond.failure_intervals("n1", "n3", 10.0) == [(2.0, 10.0)]


def test_crash_with_duration_ends_at_its_end_event() -> None:
    cond = Conditions([fault(2.0, "start", "f1", "crash", ["n3"]),
                       fault(4.0, "end", "f1", "crash", ["n3"])], NODES)
    assert [cond.is_down("n3", t) for t in (1.9, 2.0, 3.9, 4.0, 9.0)] == [
        False, True, True, False, False]
    assert cond.failure_intervals("n1", "n3", 10.0) == [(2.0, 4.0)]


def test_pause_counts_as_down() -> None:
    cond = Conditions([fault(1.0, "start", "f1", "pause", ["n2"]),
                       fault(3.0, "end", "f1", "pause", ["n2"])], NODES)
    assert cond.is_down("n2", 2.0)
    assert cond.failed("n4", "n2", 2.0)
    assert not cond.healthy("n4", "n2", 2.0, settle=0.0)
    assert not cond.is_down("n2", 3.0)


def test_restart_is_a_short_downtime_before_its_event() -> None:
    cond = Conditions([fault(5.0, "start", "f1", "restart", ["n1"])], NODES)
    assert not cond.is_down("n1", 5.0 - RESTART_DOWNTIME - 0.01)
    assert cond.is_down("n1", 5.0 - RESTART_DOWNTIME)
    assert cond.is_down("n1", 4.9)
    assert not cond.is_down("n1", 5.0)
    assert cond.failure_intervals("n2", "n1", 10.0) == [(5.0 - RESTART_DOWNTIME, 5.0)]


def test_isolating_cut_splits_the_components() -> None:
    links = isolation_links("n3", NODES)
    cond = Conditions([fault(2.0, "start", "f1", "cut", links=links),
                       fault(6.0, "end", "f1", "cut", links=links)], NODES)
    seg = cond.at(3.0)
    assert seg.cut == frozenset(links)
    assert seg.down == frozenset()
    assert seg.component["n3"] != seg.component["n1"]
    assert seg.component["n1"] == seg.component["n2"] == seg.component["n4"]
    assert cond.failed("n1", "n3", 3.0) and cond.failed("n3", "n1", 3.0)
    assert not cond.failed("n1", "n2", 3.0)
    assert not cond.failed("n1", "n3", 6.0)
    assert cond.failure_intervals("n1", "n3", 10.0) == [(2.0, 6.0)]
    assert cond.failure_intervals("n1", "n2", 10.0) == []


def test_two_sided_partition_gives_two_components() -> None:
    links = {(a, b) for a in ("n1", "n2") for b in ("n3", "n4")}
    links |= {(b, a) for a, b in links}
    cond = Conditions([fault(1.0, "start", "f1", "cut", links=links)], NODES)
    seg = cond.at(2.0)
    assert seg.component["n1"] == seg.component["n2"] != seg.component["n3"]
    assert seg.component["n3"] == seg.component["n4"]
    assert cond.failed("n2", "n4", 2.0)


def test_one_way_cut_with_a_path_around_is_neither_failed_nor_healthy() -> None:
    cond = Conditions([fault(1.0, "start", "f1", "cut", links=[("n1", "n2")])], NODES)
    assert not cond.failed("n1", "n2", 2.0)  # n1 and n2 still reach each other through n3
    assert not cond.healthy("n1", "n2", 2.0, settle=0.0)
    assert not cond.healthy("n2", "n1", 2.0, settle=0.0)
    assert cond.healthy("n1", "n3", 2.0, settle=0.0)


def test_one_way_cut_from_everyone_isolates_the_node() -> None:
    links = [("n1", other) for other in NODES if other != "n1"]
    cond = Conditions([fault(1.0, "start", "f1", "cut", links=links)], NODES)
    assert cond.failed("n2", "n1", 2.0)
    assert not cond.failed("n2", "n3", 2.0)


def test_lossy_links_are_neither_failed_nor_healthy() -> None:
    cond = Conditions([fault(1.0, "start", "f1", "lossy", links=[("n1", "n2")]),
                       fault(3.0, "end", "f1", "lossy", links=[("n1", "n2")])], NODES)
    assert cond.at(2.0).lossy == frozenset({("n1", "n2")})
    assert not cond.failed("n1", "n2", 2.0)
    assert not cond.healthy("n2", "n1", 2.0, settle=0.0)
    assert cond.healthy("n2", "n1", 3.0, settle=0.0)


def test_slow_faults_change_nothing() -> None:
    cond = Conditions([fault(1.0, "start", "f1", "slow", links=[("n1", "n2")])], NODES)
    assert cond.healthy("n1", "n2", 2.0, settle=0.5)
    assert not cond.failed("n1", "n2", 2.0)


@pytest.mark.parametrize(
    ("t", "settle", "healthy"),
    [(5.9, 3.0, False), (8.9, 3.0, False), (9.0, 3.0, True), (12.0, 3.0, True),
     (1.5, 0.5, True), (2.2, 0.5, False), (1.9, 0.0, True)],
)
def test_healthy_needs_the_links_intact_for_the_settle_time(t: float, settle: float,
                                                            healthy: bool) -> None:
    links = isolation_links("n3", NODES)
    cond = Conditions([fault(2.0, "start", "f1", "cut", links=links),
                       fault(6.0, "end", "f1", "cut", links=links)], NODES)
    assert cond.healthy("n1", "n3", t, settle) is healthy


def test_healthy_requires_both_up() -> None:
    cond = Conditions([fault(2.0, "start", "f1", "crash", ["n2"]),
                       fault(3.0, "end", "f1", "crash", ["n2"])], NODES)
    assert not cond.healthy("n1", "n2", 2.5, settle=0.0)
    assert not cond.healthy("n2", "n1", 2.5, settle=0.0)
    assert not cond.healthy("n1", "n2", 4.0, settle=2.0)  # down within the settle window
    assert cond.healthy("n1", "n2", 5.0, settle=2.0)


def test_overlapping_faults_merge_into_one_failure_interval() -> None:
    links = isolation_links("n3", NODES)
    cond = Conditions([
        fault(2.0, "start", "f1", "crash", ["n3"]),
        fault(4.0, "end", "f1", "crash", ["n3"]),
        fault(3.5, "start", "f2", "cut", links=links),
        fault(7.0, "end", "f2", "cut", links=links),
        fault(9.0, "start", "f3", "pause", ["n3"]),
        fault(10.0, "end", "f3", "pause", ["n3"]),
    ], NODES)
    assert cond.failure_intervals("n1", "n3", 20.0) == [(2.0, 7.0), (9.0, 10.0)]
    assert cond.failure_intervals("n1", "n3", 6.0) == [(2.0, 6.0)]  # cut off at the end


def test_no_failure_while_the_observer_itself_is_down() -> None:
    cond = Conditions([fault(1.0, "start", "f1", "crash", ["n1"]),
                       fault(2.0, "start", "f2", "crash", ["n2"])], NODES)
    assert cond.failure_intervals("n1", "n2", 10.0) == []
    assert cond.failure_intervals("n3", "n2", 10.0) == [(2.0, 10.0)]
    assert cond.failure_intervals("n3", "n1", 10.0) == [(1.0, 10.0)]


def test_error_events_and_unmatched_ends_are_ignored() -> None:
    cond = Conditions([fault(1.0, "error", "f1", "crash", ["n1"]),
                       fault(2.0, "end", "f9", "crash", ["n2"])], NODES)
    assert not cond.is_down("n1", 1.5)
    assert not cond.is_down("n2", 2.5)


def test_segments_start_at_every_change() -> None:
    cond = Conditions([fault(2.0, "start", "f1", "crash", ["n3"]),
                       fault(4.0, "end", "f1", "crash", ["n3"])], NODES)
    assert [seg.start for seg in cond.segments] == [0.0, 2.0, 4.0]
    assert cond.at(-1.0).start == 0.0


def test_connected_time_counts_only_time_with_a_path_to_another_up_node() -> None:
    links = isolation_links("n3", NODES)
    cond = Conditions([fault(2.0, "start", "f1", "cut", links=links),
                       fault(6.0, "end", "f1", "cut", links=links),
                       fault(6.5, "start", "f2", "crash", ["n3"])], NODES)
    assert cond.connected_time("n3", 0.0, 10.0) == pytest.approx(2.0 + 0.5)
    assert cond.connected_time("n3", 3.0, 6.2) == pytest.approx(0.2)
    assert cond.connected_time("n3", 3.0, 5.0) == 0.0
    assert cond.connected_time("n1", 0.0, 10.0) == pytest.approx(10.0)


def test_a_node_alone_in_its_component_is_not_connected() -> None:
    cond = Conditions([fault(1.0, "start", f"f{n}", "crash", [n]) for n in ("n2", "n3", "n4")],
                      NODES)
    assert cond.connected_time("n1", 0.0, 4.0) == pytest.approx(1.0)


def test_next_down_is_the_start_of_the_next_down_spell() -> None:
    cond = Conditions([fault(2.0, "start", "f1", "pause", ["n2"]),
                       fault(3.0, "end", "f1", "pause", ["n2"]),
                       fault(7.0, "start", "f2", "restart", ["n2"])], NODES)
    assert cond.next_down("n2", 0.0) == 2.0
    assert cond.next_down("n2", 2.5) == 2.5
    assert cond.next_down("n2", 3.0) == 7.0 - RESTART_DOWNTIME
    assert cond.next_down("n2", 7.0) is None
    assert cond.next_down("n1", 0.0) is None
