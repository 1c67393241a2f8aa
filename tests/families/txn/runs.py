"""Runs the transaction checks' tests share."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.families.txn.observations import REQUESTS, Requests
from pytest_dchaos.record.history import FAIL, INVOKE
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


def noted(rec: RunRecord) -> RunRecord:
    """``rec`` with the msg_id of each transaction's request noted, as a real run notes it:
    each client's n-th request has msg_id n."""
    sent: dict[str, int] = {}
    msg_ids = {}
    for op in rec.history.ops:
        if op.type == INVOKE and op.f == "txn":
            sent[op.process] = msg_ids[op.index] = sent.get(op.process, 0) + 1
    rec.observations[REQUESTS] = Requests(msg_ids)
    return rec


def request(client: str, msg_id: int = 1) -> dict[str, Any]:
    """An entry of a node's ``txns``: the request that started a transaction."""
    return {"client": client, "msg_id": msg_id}


def contract_only() -> RunRecord:
    """Two calls, c1's told ok and c2's told aborted, on nodes whose state is the
    contract's alone (decisions, no versions): they decided as the clients were told. Each
    node ties its transactions to the calls (``txns``) and the run noted its msg_ids."""
    rec = noted(record(history(txn("c1", [["w", 0, 1], ["w", 1, 1]], 0.0, 0.1),
                               txn("c2", [["w", 0, 2]], 0.2, 0.3, FAIL)), nodes=2))
    ties = {"n1.1.1": request("c1"), "n1.1.2": request("c2")}
    rec.node_states = {
        node: {"decisions": {"n1.1.1": "commit", "n1.1.2": "abort"}, "locks": {},
               "wal_len": 4, "txns": dict(ties)} for node in ("n1", "n2")}
    return rec
