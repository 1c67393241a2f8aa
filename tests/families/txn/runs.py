"""Runs the transaction checks' tests share."""

from __future__ import annotations

from pytest_dchaos.record.history import FAIL
from pytest_dchaos.record.result import RunRecord
from tests.builders import history, record, txn


def sharded_by_range() -> RunRecord:
    """A correct run of a node that keeps keys 0-1 on n3, 2-3 on n1 and 4-5 on n2 (not
    ``key % 3``, which would put 0 on n1, 2 on n3 and 5 on n3)."""
    ops = history(
        txn("c1", [["w", 0, 1], ["w", 2, 1]], 0.0, 0.1),
        txn("c2", [["r", 0, 1], ["w", 4, 1]], 0.2, 0.3),
        txn("c3", [["r", 2, 1], ["w", 5, 1]], 0.4, 0.5),
        txn("c4", [["w", 1, 1]], 0.6, 0.7, FAIL),
        txn("c5", [["r", 5, 1], ["r", 1, None]], 0.8, 0.9),
    )
    rec = record(ops, nodes=3)
    rec.node_states = {
        "n1": {"decisions": {"n1.1.1": "commit"}, "versions": {"2": [1]}},
        "n2": {"decisions": {"n1.1.1": "commit"}, "versions": {"4": [1], "5": [1]}},
        "n3": {"decisions": {"n1.1.1": "commit", "n3.1.1": "abort"}, "versions": {"0": [1]}},
    }
    return rec
