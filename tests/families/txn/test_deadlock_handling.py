"""The deadlock_handling check: the cycles the nodes report, and — where the nodes tie
their transactions to client calls — each victim against what its client was told."""

from __future__ import annotations

from pytest_dchaos.families.txn.checks.deadlock_handling import (
    DeadlockHandling,
    DeadlockHandlingOptions,
)
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord
from tests.builders import history, record, txn
from tests.families.txn.runs import noted, request

OPTIONS = DeadlockHandlingOptions(within=1.0, require=True)
CYCLE = ["n1.1.1", "n2.1.1"]


def deadlock(victim_told: str | None = FAIL, *, ties: bool = True) -> RunRecord:
    """c1's n1.1.1 and c2's n2.1.1 wait for each other; the detector (n1) breaks the cycle
    by aborting n2.1.1, which its coordinator n2 reports as its victim. c2 was told
    ``victim_told`` (None: never told, a timeout)."""
    rec = noted(record(history(
        txn("c1", [["w", 0, 1], ["w", 1, 1]], 0.0, 0.5),
        txn("c2", [["w", 1, 2], ["w", 0, 2]], 0.1, 0.4 if victim_told else None,
            victim_told or OK, node="n2")), nodes=2))
    decisions = {"n1.1.1": "commit", "n2.1.1": "abort"}
    txns = {"n1.1.1": request("c1"), "n2.1.1": request("c2")}
    rec.node_states = {
        "n1": {"decisions": dict(decisions), "deadlocks": [
            {"cycle": CYCLE, "victim": "n2.1.1", "t": 100.3, "formed": 100.2}]},
        "n2": {"decisions": dict(decisions),
               "victims": [{"txn": "n2.1.1", "cycle": CYCLE, "t": 100.3}]},
    }
    if ties:
        for state in rec.node_states.values():
            state["txns"] = dict(txns)
    return rec


def test_a_victim_whose_client_was_told_it_aborted_passes_on_both() -> None:
    verdict = DeadlockHandling().check(OPTIONS, deadlock())
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert verdict.detail == ("1 deadlock(s), each a confirmed cycle broken by one victim "
                              "within 0.10s (as the nodes report them); of 1 victim(s), 1 "
                              "tied to a client call (the txns of n1, n2), 1 of whose "
                              "clients were told they aborted")


def test_a_victim_whose_client_was_told_it_committed_fails() -> None:
    verdict = DeadlockHandling().check(OPTIONS, deadlock(OK))
    assert not verdict.passed
    assert verdict.evidence == "both"
    assert verdict.detail == ("n1, n2 report(s) n2.1.1 aborted as a deadlock victim, but the "
                              "client call that started it, txn 2 (c2's request msg_id 1 to "
                              "n2 at 0.10s), was told it committed (txn_ok)")


def test_a_victim_a_node_reports_committed_fails() -> None:
    rec = deadlock()
    rec.node_states["n1"]["decisions"]["n2.1.1"] = "commit"
    verdict = DeadlockHandling().check(OPTIONS, rec)
    assert not verdict.passed
    assert verdict.detail == ("n1, n2 report(s) n2.1.1 as a deadlock victim, but n1 report(s) "
                              "it committed: the cycle was not broken by aborting it")


def test_a_victim_whose_client_never_learnt_its_outcome_is_noted() -> None:
    verdict = DeadlockHandling().check(OPTIONS, deadlock(None))
    assert verdict.passed, verdict.detail
    assert verdict.figures["victims_never_told"] == 1
    assert verdict.detail.endswith("0 of whose clients were told they aborted; 1 never told "
                                   "their outcome: n2.1.1: txn 2 (c2's request msg_id 1 to n2 "
                                   "at 0.10s) was never told its outcome")


def test_without_txns_the_victims_rest_on_the_reports_alone_as_before() -> None:
    verdict = DeadlockHandling().check(OPTIONS, deadlock(OK, ties=False))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "reported"
    assert verdict.detail.endswith("no node lists the requests its transactions came from "
                                   "(dchaos_state_ok.txns, docs/nodes/txn.md), so no victim's "
                                   "abort was set against what its client was told")
