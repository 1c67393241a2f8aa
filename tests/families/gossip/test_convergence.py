"""``convergence``: every acknowledged broadcast ends up on every live node."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_dchaos.checkers.conditions import RESTART_DOWNTIME
from pytest_dchaos.families.gossip.checks.convergence import Convergence
from pytest_dchaos.families.gossip.observations import Converging, converging
from pytest_dchaos.record.history import FAIL, INFO, History
from pytest_dchaos.record.result import RunRecord, Verdict
from tests.builders import broadcast, check_options, fault, history, isolation_links, read, record

NODES = ["n1", "n2", "n3"]


def acked_history() -> History:
    """Values 1..3 acknowledged (by n1, n2, n1), 4 unknown, 5 failed."""
    return history(
        broadcast(1, 0.1, 0.2),
        broadcast(2, 1.0, 1.25, node="n2"),
        broadcast(3, 2.0, 2.1),
        broadcast(4, 3.0, 3.5, outcome=INFO),
        broadcast(5, 4.0, 4.1, outcome=FAIL),
        read([1, 2], 1.5, 1.6),
    )


def convergence(final_reads: dict[str, list[int]], *, converged_at: float | None = 21.5,
                live: list[str] | None = None, unread: list[str] | None = None
                ) -> Converging:
    """``observations["convergence"]`` as the gossip family's final phase writes it."""
    return Converging(healed_at=20.0, deadline=30.0, acknowledged=3, converged_at=converged_at,
                      membership_settled_at=None, live_nodes=tuple(NODES if live is None else live),
                      final_reads=final_reads, unread=tuple(unread or ()))


def judge(rec: RunRecord, entry: str = "convergence") -> Verdict:
    return Convergence().check(check_options(entry), rec)


def test_passes_when_every_live_node_has_every_acknowledged_value() -> None:
    reads = {n: [1, 2, 3] for n in NODES}
    verdict = judge(record(acked_history(), observations={"convergence": convergence(reads)}))
    assert verdict.passed, verdict.detail
    assert verdict.name == "convergence"
    assert "all 3 acknowledged values on all 3 live nodes" in verdict.detail
    assert "1.50s after the" in verdict.detail
    assert verdict.figures == {"acknowledged": 3, "time_to_converge_s": 1.5, "live_nodes": 3,
                               "excused_lost": 0}


def test_unknown_outcome_values_are_not_required_but_allowed() -> None:
    reads = {"n1": [1, 2, 3, 4], "n2": [1, 2, 3], "n3": [1, 2, 3, 4]}
    verdict = judge(record(acked_history(), observations={"convergence": convergence(reads)}))
    assert verdict.passed, verdict.detail


def test_fails_naming_each_node_and_the_values_it_lacks() -> None:
    reads = {"n1": [1, 2, 3], "n2": [1, 3], "n3": [1]}
    verdict = judge(record(acked_history(), observations={"convergence": convergence(reads)}))
    assert not verdict.passed
    assert "3 missing acknowledged value(s) after 10.0s of recovery" in verdict.detail
    assert "n2 lacks 1 (e.g. [2])" in verdict.detail
    assert "n3 lacks 2 (e.g. [2, 3])" in verdict.detail
    assert "Value 2 was acknowledged by n2 at 1.25s (history op " in verdict.detail
    assert dict(verdict.witness["missing"]) == {"n2": [2], "n3": [2, 3]}


def test_a_down_node_is_not_required_to_converge() -> None:
    reads = {"n1": [1, 2, 3], "n2": [1, 2, 3]}
    obs = convergence(reads, live=["n1", "n2"])
    verdict = judge(record(acked_history(), observations={"convergence": obs},
                           down_at_end={"n3"}))
    assert verdict.passed, verdict.detail
    assert "on all 2 live nodes" in verdict.detail


def test_fails_when_a_live_node_never_answered_a_final_read() -> None:
    reads = {"n1": [1, 2, 3], "n2": [1, 2, 3]}
    obs = convergence(reads, converged_at=None, unread=["n3"])
    verdict = judge(record(acked_history(), observations={"convergence": obs}))
    assert not verdict.passed
    assert verdict.detail == ("n3 never answered a final read, so convergence cannot be "
                              "shown")
    assert verdict.witness["unread"] == ["n3"]


def test_fails_when_convergence_took_longer_than_within() -> None:
    reads = {n: [1, 2, 3] for n in NODES}
    obs = convergence(reads, converged_at=23.0)
    verdict = judge(record(acked_history(), observations={"convergence": obs}),
                    "convergence: {within: 2s}")
    assert not verdict.passed
    assert verdict.detail == "converged only 3.00s after the heal, more than 2s"
    assert verdict.figures["time_to_converge_s"] == pytest.approx(3.0)


def test_within_is_met_on_time() -> None:
    reads = {n: [1, 2, 3] for n in NODES}
    verdict = judge(record(acked_history(), observations={"convergence": convergence(reads)}),
                    "convergence: 2s")
    assert verdict.passed, verdict.detail


def test_fails_without_final_reads() -> None:
    verdict = judge(record(acked_history()))
    assert not verdict.passed
    assert verdict.detail == "the run has no final reads (the final phase did not run)"


def test_fails_when_no_node_was_alive() -> None:
    obs = convergence({}, converged_at=None, live=[])
    verdict = judge(record(acked_history(), observations={"convergence": obs}))
    assert not verdict.passed
    assert verdict.detail == "no node was alive at the end to read from"


def test_fails_when_no_broadcast_was_acknowledged() -> None:
    h = history(broadcast(1, 0.0, 1.0, outcome=INFO), read([], 0.5, 0.6))
    obs = convergence({n: [] for n in NODES})
    verdict = judge(record(h, observations={"convergence": obs}))
    assert not verdict.passed
    assert "no broadcast was acknowledged" in verdict.detail


def test_convergence_without_a_complete_round_is_judged_not_crashed() -> None:
    ops = history(broadcast(1, 0.0, 0.1), read([1], 1.0, 1.1))
    conv = Converging(healed_at=2.0, deadline=12.0, acknowledged=1, converged_at=None,
                      membership_settled_at=None, live_nodes=("n1", "n2"),
                      final_reads={"n1": [1], "n2": [1]}, unread=())
    rec = record(ops, observations={"convergence": conv})
    assert Convergence().check(check_options("convergence"), rec).passed
    strict = Convergence().check(check_options("convergence: {within: 5s}"), rec)
    assert not strict.passed and "not within 5s" in strict.detail


ISOLATE_N3 = isolation_links("n3", NODES)


def lost_with_n3(kill_at: float | None, *, restart: bool = False) -> RunRecord:
    """n3 is cut off from 1 s to 3 s and acknowledges values 6 and 7 meanwhile; then (if
    ``kill_at``) it is killed, or restarted. n1 and n2 end with every other value, read
    at 21.0 (a second after the heal)."""
    faults = [fault(1.0, "start", "p", "cut", links=ISOLATE_N3),
              fault(3.0, "end", "p", "cut", links=ISOLATE_N3)]
    if kill_at is not None and restart:
        faults.append(fault(kill_at + RESTART_DOWNTIME, "start", "r", "restart", ["n3"]))
    elif kill_at is not None:
        faults.append(fault(kill_at, "start", "k", "crash", ["n3"]))
    live = ["n1", "n2"] if kill_at is not None and not restart else NODES
    final_reads = [read([1, 2, 3], 20.5, 21.0, process=f"c{i}", node=n)
                   for i, n in enumerate(live, start=3)]
    ops = history(acked_history().ops, broadcast(6, 1.4, 1.5, node="n3"),
                  broadcast(7, 1.9, 2.0, node="n3"), *final_reads)
    obs = convergence({n: [1, 2, 3] for n in live}, converged_at=None, live=live)
    return record(ops, faults=faults, observations={"convergence": obs},
                  down_at_end={"n3"} if kill_at is not None and not restart else ())


def test_values_lost_with_the_isolated_node_that_alone_held_them_are_excused() -> None:
    verdict = judge(lost_with_n3(kill_at=3.2), "convergence: {within: 3s}")
    assert verdict.passed, verdict.detail
    assert verdict.detail == ("all 3 acknowledged values on all 2 live nodes, 1.00s after the "
                              "final heal; 2 value(s) lost with the node that alone held "
                              "them: excused")
    assert verdict.figures["excused_lost"] == 2
    assert verdict.figures["acknowledged"] == 5


def test_a_restart_loses_them_too() -> None:
    verdict = judge(lost_with_n3(kill_at=3.2, restart=True))
    assert verdict.passed, verdict.detail
    assert verdict.figures["excused_lost"] == 2


def test_not_excused_when_the_node_was_connected_long_enough_before_it_died() -> None:
    verdict = judge(lost_with_n3(kill_at=6.0))
    assert not verdict.passed
    assert "n1 lacks 2 (e.g. [6, 7])" in verdict.detail
    assert "Value 6 was acknowledged by n3 at 1.50s" in verdict.detail
    assert verdict.figures["excused_lost"] == 0


def test_spread_sets_how_long_is_long_enough() -> None:
    assert judge(lost_with_n3(kill_at=6.0), "convergence: {spread: 4s}").passed
    assert not judge(lost_with_n3(kill_at=3.2), "convergence: {spread: 100ms}").passed


def test_not_excused_when_the_node_never_went_down() -> None:
    verdict = judge(lost_with_n3(kill_at=None))
    assert not verdict.passed
    assert "n3 lacks 2 (e.g. [6, 7])" in verdict.detail


def test_not_excused_when_a_live_node_read_the_value() -> None:
    rec = lost_with_n3(kill_at=3.2)
    conv = converging(rec)
    assert conv is not None
    reads = {"n1": [1, 2, 3, 6, 7], "n2": [1, 2, 3]}
    rec.observations["convergence"] = dataclasses.replace(conv, final_reads=reads)
    verdict = judge(rec)
    assert not verdict.passed
    assert "n2 lacks 2 (e.g. [6, 7])" in verdict.detail


def test_a_pause_keeps_the_values_so_excuses_nothing() -> None:
    rec = lost_with_n3(kill_at=None)
    rec.faults.append(fault(3.2, "start", "z", "pause", ["n3"]))
    assert not judge(rec).passed
