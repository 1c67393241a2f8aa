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
