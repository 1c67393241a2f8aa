"""The transaction family's clients: transactions of reads and unique writes over a
small key space, in Maelstrom's txn-rw-register format.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_dchaos.families.base import Pending, Workload
from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, Outcome

if TYPE_CHECKING:
    from pytest_dchaos.cluster.running import Cluster

#: Maelstrom's codes for an aborted transaction: certainly not committed.
ABORT_CODES = frozenset({14, 30})


class TxnWorkload(Workload):
    """Transactions of ``min_ops``..``max_ops`` reads and writes over ``keys`` keys."""

    def __init__(self, keys: int, min_ops: int, max_ops: int, read_ratio: float) -> None:
        self.keys, self.min_ops, self.max_ops = keys, min_ops, max_ops
        self.read_ratio = read_ratio
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        ops: list[list[Any]] = []
        for _ in range(rng.randint(self.min_ops, self.max_ops)):
            key = rng.randrange(self.keys)
            if rng.random() < self.read_ratio:
                ops.append(["r", key, None])
            else:
                with self._lock:
                    value = self._next[key] = self._next.get(key, 0) + 1
                ops.append(["w", key, value])
        return "txn", ops

    def submit(self, cluster: Cluster, client: str, node: str, f: str,
               value: Any) -> Pending:
        """One request to ``node``, as by default; its ``msg_id`` is noted (see
        :class:`RequestLog`)."""
        request = cluster.submit(node, self.request(f, value), client=client)
        if request.msg_id is not None:
            request_log(cluster).note(value, request.msg_id)
        return request

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "txn", "txn": value}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        done = reply.get("txn")
        if reply.get("type") != "txn_ok" or not isinstance(done, list) \
                or len(done) != len(value):
            return INFO, value
        return OK, done

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        return FAIL if code in ABORT_CODES or code == 12 else INFO

    def timeout_outcome(self, f: str) -> Outcome:
        return INFO


class RequestLog:
    """The ``msg_id`` each transaction of a run was sent with.

    The history does not keep message ids, and the workload's requests do not know their
    invocation; but the value a call is invoked with is the very object the workload is
    asked to send, so the history's invocations find their ``msg_id`` by identity
    (:meth:`msg_ids`). Observed evidence: the harness chose these ids itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # id(value) -> (value, msg_id): the value is held, so its id is not reused.
        self._sent: dict[int, tuple[Any, int]] = {}

    def note(self, value: Any, msg_id: int) -> None:
        with self._lock:
            self._sent[id(value)] = (value, msg_id)

    def msg_ids(self, history: History) -> dict[int, int]:
        """The history's index of each transaction invocation -> its request's msg_id."""
        with self._lock:
            sent = dict(self._sent)
        out = {}
        for op in history.ops:
            if op.type == INVOKE and op.f == "txn":
                noted = sent.get(id(op.value))
                if noted is not None and noted[0] is op.value:
                    out[op.index] = noted[1]
        return out


# One log per running cluster (the family object is shared by every run of a process; the
# cluster is the run's own): the workload writes it, the family's final phase reads it.
_LOGS: weakref.WeakKeyDictionary[Cluster, RequestLog] = weakref.WeakKeyDictionary()
_LOGS_LOCK = threading.Lock()


def request_log(cluster: Cluster) -> RequestLog:
    """The request log of the run ``cluster`` belongs to."""
    with _LOGS_LOCK:
        log = _LOGS.get(cluster)
        if log is None:
            log = _LOGS[cluster] = RequestLog()
        return log
