"""The atomicity check on hand-built runs: judged from the history against what the nodes
report, with no assumption about which node holds a key."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.txn.checks.atomicity import Atomicity
from pytest_dchaos.record.history import FAIL, OK, Op
from pytest_dchaos.record.result import RunRecord
from tests.builders import history, record, txn
from tests.families.txn.runs import contract_only, request, sharded_by_range


def run(*txns: list[Op], states: dict[str, dict[str, Any]]) -> RunRecord:
    rec = record(history(*txns), nodes=3)
    rec.node_states = states
    return rec


def test_a_node_that_shards_otherwise_passes() -> None:
    verdict = Atomicity().check(NoOptions(), sharded_by_range())
    assert verdict.passed, verdict.detail
    assert "decisions and versions reported by n1, n2, n3" in verdict.detail


def test_an_acknowledged_write_no_node_lists_is_lost_and_says_who_reported() -> None:
    rec = sharded_by_range()
    rec.node_states["n2"]["versions"] = {"4": [1]}  # key 5's only version gone
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert "acknowledged but lost: txn 3" in verdict.detail
    assert "key 5 = 1 listed by no node; versions reported by n1, n2, n3" in verdict.detail


def test_a_key_no_report_speaks_for_is_not_judged() -> None:
    rec = sharded_by_range()
    del rec.node_states["n2"]  # down at the end: any key no other node lists may be its
    verdict = Atomicity().check(NoOptions(), rec)
    assert verdict.passed, verdict.detail
    assert "keys 1, 4, 5 not judged" in verdict.detail


def test_a_read_of_a_failed_write_is_caught_from_the_history() -> None:
    verdict = Atomicity().check(NoOptions(), run(
        txn("c1", [["w", 0, 1]], 0.0, 0.1, FAIL),
        txn("c2", [["r", 0, 1]], 0.2, 0.3, OK),
        states={"n1": {"decisions": {}}}))
    assert not verdict.passed
    assert "txn 2 read key 0 = 1, written by txn 1, which was told it aborted" in verdict.detail


# -- the nodes' decisions against what the clients were told (dchaos_state_ok.txns) ------

def test_decisions_as_the_clients_were_told_pass_and_say_what_was_tied() -> None:
    verdict = Atomicity().check(NoOptions(), contract_only())
    assert verdict.passed, verdict.detail
    assert verdict.detail.endswith("the decisions agree with what the clients were told (2 "
                                   "node transaction(s) tied to 2 client call(s) by the "
                                   "txns of n1, n2)")


def test_a_node_reporting_aborted_what_the_client_was_told_committed_fails() -> None:
    # Every node agrees, and no node lists versions: only the tie shows it.
    rec = contract_only()
    for state in rec.node_states.values():
        state["decisions"]["n1.1.1"] = "abort"
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert verdict.detail == (
        "n1, n2 report n1.1.1 aborted, but the client call that started it, txn 1 (c1's "
        "request msg_id 1 to n1 at 0.00s), was told it committed (txn_ok)")


def test_a_node_reporting_committed_what_the_client_was_told_aborted_fails() -> None:
    rec = contract_only()
    rec.node_states["n2"]["decisions"]["n1.1.2"] = "commit"
    rec.node_states["n1"]["decisions"].pop("n1.1.2")
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert verdict.detail == ("n2 reports n1.1.2 committed, but the client call that started "
                              "it, txn 2 (c2's request msg_id 1 to n1 at 0.20s), was told it "
                              "aborted")


def test_the_same_run_without_txns_passes_as_before_and_says_nothing_was_tied() -> None:
    rec = contract_only()
    for state in rec.node_states.values():
        state["decisions"]["n1.1.1"] = "abort"
        del state["txns"]
    verdict = Atomicity().check(NoOptions(), rec)
    assert verdict.passed, verdict.detail
    assert "no node lists the requests its transactions came from (dchaos_state_ok.txns" \
        in verdict.detail
    assert verdict.detail.endswith("so the decisions were set against each other only, not "
                                   "against what the clients were told")


def test_a_run_that_noted_no_msg_ids_ties_nothing() -> None:
    rec = contract_only()
    del rec.observations["requests"]
    rec.node_states["n1"]["decisions"]["n1.1.1"] = "abort"
    rec.node_states["n2"]["decisions"]["n1.1.1"] = "abort"
    verdict = Atomicity().check(NoOptions(), rec)
    assert verdict.passed, verdict.detail
    assert "the run kept no record of its requests' msg_ids" in verdict.detail


def retried(second: str) -> RunRecord:
    """c1's request tied to two of n1's transactions: the first aborted, the second
    decided ``second`` (a node that retries a request internally)."""
    rec = contract_only()
    for state in rec.node_states.values():
        state["decisions"].update({"n1.1.1": "abort", "n1.1.3": second})
        state["txns"]["n1.1.3"] = request("c1")
    return rec


def test_an_aborted_attempt_beside_the_committed_one_is_no_contradiction() -> None:
    verdict = Atomicity().check(NoOptions(), retried("commit"))
    assert verdict.passed, verdict.detail
    assert "2 client call(s)" in verdict.detail


def test_a_request_with_no_committed_attempt_was_not_committed() -> None:
    verdict = Atomicity().check(NoOptions(), retried("abort"))
    assert not verdict.passed
    assert verdict.detail.startswith("n1, n2 report n1.1.1 aborted, but the client call "
                                     "that started it, txn 1")
    assert "n1, n2 report n1.1.3 aborted" in verdict.detail


def test_a_request_committed_twice_fails() -> None:
    rec = retried("commit")
    for state in rec.node_states.values():
        state["decisions"]["n1.1.1"] = "commit"
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert verdict.detail == ("txn 1 (c1's request msg_id 1 to n1 at 0.00s) was committed 2 "
                              "times, as n1.1.1, n1.1.3")


def test_a_tie_to_a_request_the_harness_never_sent_fails() -> None:
    rec = contract_only()
    rec.node_states["n2"]["txns"]["n2.1.9"] = request("c1", 5)
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert verdict.detail == ("the txns the nodes report contradict the requests the harness "
                              "sent: n2 says its transaction n2.1.9 was started by c1's request "
                              "msg_id 5, but the harness sent no transaction as c1 with msg_id 5")


def test_two_nodes_tying_one_transaction_to_different_calls_fail_and_it_is_not_used() -> None:
    rec = contract_only()
    rec.node_states["n2"]["txns"]["n1.1.1"] = request("c2")
    for state in rec.node_states.values():
        state["decisions"]["n1.1.1"] = "abort"  # not judged: n1.1.1's call is in dispute
    verdict = Atomicity().check(NoOptions(), rec)
    assert not verdict.passed
    assert verdict.detail == ("the txns the nodes report contradict the requests the harness "
                              "sent: n1 ties n1.1.1 to txn 1 (c1's request msg_id 1 to n1 at "
                              "0.00s), but n2 to txn 2 (c2's request msg_id 1 to n1 at 0.20s)")
