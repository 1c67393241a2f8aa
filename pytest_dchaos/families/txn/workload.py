"""The transaction family's clients: transactions of reads and unique writes over a
small key space, in Maelstrom's txn-rw-register format.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_dchaos.families.base import Pending, Workload
from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, Outcome

if TYPE_CHECKING:
    from pytest_dchaos.cluster.running import Cluster, Request

#: Maelstrom's codes for an aborted transaction: certainly not committed.
ABORT_CODES = frozenset({14, 30})


class TxnWorkload(Workload):
    """Transactions of ``min_ops``..``max_ops`` reads and writes over ``keys`` keys."""

    def __init__(self, keys: int, min_ops: int, max_ops: int, read_ratio: float) -> None:
        self.keys, self.min_ops, self.max_ops = keys, min_ops, max_ops
        self.read_ratio = read_ratio
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()
        #: Requests not yet answered: a serial number -> (when sent, the node it went to).
        self._in_flight: dict[int, tuple[float, str]] = {}
        self._sent = 0
        self._last_target: str | None = None

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
        with self._lock:
            self._sent += 1
            serial = self._sent
            self._in_flight[serial] = (time.monotonic(), node)
            self._last_target = node
        return _InFlight(request, lambda: self._settled(serial))

    def _settled(self, serial: int) -> None:
        with self._lock:
            self._in_flight.pop(serial, None)

    def coordinator(self) -> str | None:
        """The node coordinating the oldest transaction still unanswered — the one
        likeliest to be deciding now; with none in flight, the node the latest transaction
        was sent to; None before the first. From the harness's own requests alone."""
        with self._lock:
            if self._in_flight:
                return min(self._in_flight.values())[1]
            return self._last_target

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


class _InFlight:
    """A transaction request that leaves the workload's in-flight set once answered or
    abandoned (a timed-out request is never answered)."""

    def __init__(self, request: Request, settled: Callable[[], None]) -> None:
        self.request = request
        self._settled = settled
        request.add_done_callback(lambda _: settled())

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request.result(timeout)

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self.request.add_done_callback(lambda _: fn(self))

    def abandon(self, cluster: Cluster) -> None:
        self._settled()
        self.request.abandon(cluster)


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
