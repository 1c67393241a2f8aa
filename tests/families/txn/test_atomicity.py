"""The atomicity check on hand-built runs: judged from the history against what the nodes
report, with no assumption about which node holds a key."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.txn.checks.atomicity import Atomicity
from pytest_dchaos.record.history import FAIL, OK, Op
from pytest_dchaos.record.result import RunRecord
from tests.builders import history, record, txn
from tests.families.txn.runs import sharded_by_range


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
