"""The txn_outcomes check on hand-built runs."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.txn.checks.txn_outcomes import Outcomes
from tests.builders import history, record, txn
from tests.families.txn.runs import contract_only, noted, sharded_by_range


def test_a_node_that_shards_otherwise_passes() -> None:
    verdict = Outcomes().check(NoOptions(), sharded_by_range())
    assert verdict.passed, verdict.detail
    assert "versions reported by n1, n2, n3" in verdict.detail


def test_an_abort_that_a_node_lists_as_committed_names_the_node() -> None:
    rec = sharded_by_range()
    rec.node_states["n3"]["versions"]["1"] = [1]
    verdict = Outcomes().check(NoOptions(), rec)
    assert not verdict.passed
    assert "told aborted, but committed: txn 4" in verdict.detail
    assert "(key 1 = 1 listed by n3)" in verdict.detail


def test_a_read_of_a_value_no_client_wrote() -> None:
    rec = record(history(txn("c1", [["r", 0, 42]], 0.0, 0.1)), nodes=1)
    rec.node_states = {"n1": {"decisions": {}, "versions": {"0": [42]}}}
    verdict = Outcomes().check(NoOptions(), rec)
    assert not verdict.passed
    assert "txn 1 read key 0 = 42, which no client wrote" in verdict.detail


def test_an_unknown_outcome_turns_as_the_tied_decisions_say_when_no_versions_do() -> None:
    rec = contract_only()
    rec.history = history(txn("c1", [["w", 0, 1], ["w", 1, 1]], 0.0, 0.1),
                          txn("c2", [["w", 0, 2]], 0.2, None))  # c2 never told
    noted(rec)
    rec.node_states["n1"]["decisions"]["n1.1.2"] = "commit"
    rec.node_states["n2"]["decisions"]["n1.1.2"] = "commit"
    verdict = Outcomes().check(NoOptions(), rec)
    assert verdict.passed, verdict.detail
    assert verdict.figures["info_turned"] == {"commit": 1, "abort": 0, "unknown": 0}


def test_without_versions_or_ties_the_verdict_rests_on_the_history_alone() -> None:
    rec = record(history(txn("c1", [["w", 0, 1]], 0.0, 0.1),
                         txn("c2", [["r", 0, 1]], 0.2, 0.3)), nodes=1)
    rec.node_states = {"n1": {"decisions": {}}}
    verdict = Outcomes().check(NoOptions(), rec)
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "observed"
    assert Outcomes().check(NoOptions(), sharded_by_range()).evidence == "both"
