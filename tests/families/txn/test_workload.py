"""The transaction workload's request log: which msg_id each call was sent with."""

from __future__ import annotations

from pytest_dchaos.families.txn.workload import RequestLog
from pytest_dchaos.record.history import OK, History


def test_each_invocation_finds_the_msg_id_it_was_sent_with_by_identity() -> None:
    history = History()
    first, second = [["r", 0, None]], [["r", 0, None]]  # equal, but two calls
    a = history.invoke("c1", "txn", first, "n1")
    history.complete(a, OK, [["r", 0, None]])
    b = history.invoke("c2", "txn", second, "n2")
    never_sent = history.invoke("c3", "txn", [["w", 1, 1]], "n3")
    log = RequestLog()
    log.note(second, 7)
    log.note(first, 3)
    log.note([["r", 0, None]], 9)  # a value the history does not hold
    assert log.msg_ids(history) == {a.index: 3, b.index: 7}
    assert never_sent.index not in log.msg_ids(history)


def test_the_coordinator_is_the_target_of_the_oldest_transaction_in_flight() -> None:
    from concurrent.futures import Future
    from typing import Any

    from pytest_dchaos.families.txn.workload import TxnWorkload

    class Sent(Future[dict[str, Any]]):
        msg_id = None
        abandoned = False

        def abandon(self, cluster: Any) -> None:
            self.abandoned = True

    class Cluster:
        def __init__(self) -> None:
            self.sent: list[Sent] = []

        def submit(self, node: str, body: Any, client: str) -> Sent:
            self.sent.append(Sent())
            return self.sent[-1]

    workload = TxnWorkload(4, 1, 2, 0.5)
    cluster = Cluster()
    assert workload.coordinator() is None  # nothing sent yet
    first = workload.submit(cluster, "c1", "n2", "txn", [["r", 0, None]])  # type: ignore[arg-type]
    second = workload.submit(cluster, "c2", "n3", "txn", [["r", 1, None]])  # type: ignore[arg-type]
    assert workload.coordinator() == "n2"
    cluster.sent[0].set_result({"type": "txn_ok", "txn": [["r", 0, None]]})
    assert workload.coordinator() == "n3"
    second.abandon(cluster)  # a timed-out request is never answered
    assert cluster.sent[1].abandoned
    assert workload.coordinator() == "n3"  # none in flight: the latest target
    workload.submit(cluster, "c1", "n1", "txn", [["r", 2, None]])  # type: ignore[arg-type]
    assert workload.coordinator() == "n1"
    assert first.result(0) == {"type": "txn_ok", "txn": [["r", 0, None]]}
