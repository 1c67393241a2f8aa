"""Runs a family's client workload against a cluster and writes the history.

``clients`` clients (c1..cK) each do one operation at a time, as a Jepsen client process
does; together they are paced to ``rate`` operations per second. Clients are not threads:
an operation's outcome, learnt on an agent's reader thread, starts the client's next one.
Every operation goes to a node drawn from the seed. Outcomes follow Maelstrom's rules: a
reply is ok, a definite error is a fail, a timeout or a crash mid-request is info
(unknown) — except for reads, which change nothing and so simply fail.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.cluster.timers import Timer
from pytest_dchaos.errors import HarnessError, NodeDown, NodeError, RpcTimeout
from pytest_dchaos.families.base import Pending, Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, TAKEN_DOWN, History, Op, Outcome
from pytest_dchaos.scenario.model import WorkloadSpec

log = logging.getLogger(__name__)

#: How far behind the pace clients may start at once (see WorkloadRunner._take_slot).
BURST = 0.02


class _Op:
    """An operation in flight: settled once, by its outcome or by its timeout."""

    __slots__ = ("done", "f", "invocation", "pending", "then", "timer", "value")

    def __init__(self, invocation: Op, f: str, value: Any,
                 then: Callable[[Outcome, Any], None] | None) -> None:
        self.invocation, self.f, self.value = invocation, f, value
        self.then = then
        self.pending: Pending | None = None
        self.timer: Timer | None = None
        self.done = False


class OpExecutor:
    """Invokes single operations and records invocation and outcome in the history.

    :meth:`start` does not wait: the outcome is recorded, and the caller told, on the
    thread that learns it — an agent's reader when a reply settles it, the cluster's timer
    thread when it times out. :meth:`run` waits for it.
    """

    def __init__(self, cluster: Cluster, workload: Workload, history: History,
                 timeout: float) -> None:
        self.cluster = cluster
        self.workload = workload
        self.history = history
        self.timeout = timeout
        self.counts: dict[Outcome, int] = {OK: 0, FAIL: 0, INFO: 0}
        self._lock = threading.Lock()

    def run(self, client: str, node: str, f: str, value: Any) -> tuple[Outcome, Any]:
        """Invoke one operation, wait for its outcome, record both; ``(outcome, value)``."""
        finished = threading.Event()
        result: list[tuple[Outcome, Any]] = []

        def then(outcome: Outcome, value: Any) -> None:
            result.append((outcome, value))
            finished.set()

        op = self.start(client, node, f, value, then)
        # The timer settles it after the timeout; waiting longer only covers a cluster
        # whose timers were closed under us.
        if not finished.wait(self.timeout + 5):
            self._timed_out(op)
            finished.wait(5)  # settled by its reply meanwhile: being recorded now
        return result[0]

    def start(self, client: str, node: str, f: str, value: Any,
              then: Callable[[Outcome, Any], None] | None = None) -> _Op:
        """Invoke one operation; when its outcome is recorded, ``then(outcome, value)`` is
        called (maybe before this returns, e.g. when no node could be reached)."""
        invocation = self.history.invoke(client, f, value,
                                         None if self.workload.to_every_node else node)
        op = _Op(invocation, f, value, then)
        try:
            op.pending = self.workload.submit(self.cluster, client, node, f, value)
        except HarnessError as exc:
            op.done = True  # nobody else knows of it yet
            self._record(op, FAIL, value, str(exc))
            return op
        op.timer = self.cluster.timers.call_later(self.timeout, self._timed_out, op,
                                                  coarse=True)
        op.pending.add_done_callback(lambda pending: self._answered(op, pending))
        return op

    def _claim(self, op: _Op) -> bool:
        """True for whoever settles ``op`` first: its reply or its timeout."""
        with self._lock:
            if op.done:
                return False
            op.done = True
            return True

    def _timed_out(self, op: _Op) -> None:
        if not self._claim(op):
            return
        if op.pending is not None:
            op.pending.abandon(self.cluster)
        self._record(op, self.workload.timeout_outcome(op.f), op.value, "timeout")

    def _answered(self, op: _Op, pending: Pending) -> None:
        if not self._claim(op):
            return
        if op.timer is not None:
            op.timer.cancel()
        f, value = op.f, op.value
        try:
            reply = pending.result(0)
        except NodeDown as exc:
            # Not delivered: a node the harness took down never saw it; one that fell on
            # its own is still the node's doing.
            return self._record(op, FAIL, value,
                                f"{TAKEN_DOWN}{exc}" if exc.by_harness else str(exc))
        except (RpcTimeout, NodeError) as exc:
            taken = isinstance(exc, RpcTimeout) and exc.by_harness
            return self._record(op, self.workload.timeout_outcome(f), value,
                                f"{TAKEN_DOWN}{exc}" if taken else str(exc))
        if reply.get("type") == "error":
            code = reply.get("code")
            outcome = self.workload.error_outcome(f, code if isinstance(code, int) else None)
            return self._record(op, outcome, value,
                                f"error {code}: {reply.get('text', '')}".strip())
        outcome, result = self.workload.completion(f, value, reply)
        error = None if outcome == OK else f"unexpected reply {reply!r}"
        self._record(op, outcome, result, error)

    def _record(self, op: _Op, outcome: Outcome, value: Any, error: str | None) -> None:
        self.history.complete(op.invocation, outcome, value, error)
        with self._lock:
            self.counts[outcome] += 1
        if op.then is not None:
            op.then(outcome, value)


class FinalReads:
    """Reads every live node at once, after the faults heal, as a client of its own.

    Node ``nI`` is read by client ``c(K+I)`` (K the workload's clients), so a final read
    never shares a client with the workload. Each read goes into the history like any
    operation; :attr:`last` keeps each node's latest successful read.
    """

    def __init__(self, cluster: Cluster, workload: Workload, history: History,
                 spec: WorkloadSpec, node_ids: tuple[str, ...], f: str = "read") -> None:
        self.cluster = cluster
        self.f = f
        self._executor = OpExecutor(cluster, workload, history, min(spec.timeout, 2.0))
        self._clients = {n: f"c{spec.clients + i}" for i, n in enumerate(node_ids, start=1)}
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(node_ids)),
                                        thread_name_prefix="final-read")
        self.last: dict[str, Any] = {}

    def read(self) -> dict[str, tuple[Outcome, Any]]:
        """Read every running node; ``{node: (outcome, value)}``."""
        live = self.cluster.running_nodes()
        outcomes = dict(zip(live, self._pool.map(
            lambda n: self._executor.run(self._clients[n], n, self.f, None), live),
            strict=True))
        for node, (outcome, value) in outcomes.items():
            if outcome == OK:
                self.last[node] = value
        return outcomes

    def close(self) -> None:
        self._pool.shutdown()

    def __enter__(self) -> FinalReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Client:
    """One client process of the workload: one operation at a time."""

    __slots__ = ("finished", "lock", "name", "paced", "retired", "rng", "starting")

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = random.Random(f"dchaos-client:{seed}:{name}")
        self.lock = threading.Lock()
        self.starting = False  # inside executor.start, on the thread that started it
        self.finished = False  # its operation finished before executor.start returned
        self.retired = False  # done for the run
        self.paced: Timer | None = None  # waiting for its next slot


class WorkloadRunner:
    """``spec.clients`` clients paced to ``spec.rate`` for ``spec.duration``.

    A client is not a thread: its next operation starts on the thread that recorded the
    last one's outcome (an agent's reader, mostly), or on the cluster's timer thread when
    the pace says to wait. Hundreds of clients cost no more threads than one, and a reply
    leads to the next request without waking anyone.
    """

    def __init__(self, cluster: Cluster, workload: Workload, spec: WorkloadSpec,
                 history: History, seed: int) -> None:
        self.cluster = cluster
        self.workload = workload
        self.spec = spec
        self.history = history
        self.seed = seed
        self.executor = OpExecutor(cluster, workload, history, spec.timeout)
        self._stop = threading.Event()
        self._slot_lock = threading.Lock()
        self._next_slot = 0.0
        self._active = 0
        self._idle = threading.Condition()
        self._clients: list[_Client] = []

    @property
    def counts(self) -> dict[Outcome, int]:
        return self.executor.counts

    def start(self) -> None:
        self._next_slot = self.history.now()
        self._clients = [_Client(f"c{index}", self.seed)
                         for index in range(1, self.spec.clients + 1)]
        with self._idle:
            self._active = len(self._clients)
        for client in self._clients:
            self._pace(client)

    def stop(self) -> None:
        """No new operations; wait for those in flight (each bounded by the timeout)."""
        self._stop.set()
        for client in self._clients:
            paced = client.paced
            if paced is not None:  # idle until its slot, which may be seconds away
                paced.cancel()
                self._retire(client)
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=self.spec.timeout + 5)

    def _take_slot(self) -> float:
        """The time this client may start its next operation (paces all clients to rate).

        Slots unused in the last :data:`BURST` seconds (at least one) may still be taken:
        replies come in bursts — one read settles several operations — and so do the
        next operations, without losing the pace. Clients stuck on timeouts do not come
        back to more overdue slots than that.
        """
        interval = 1.0 / self.spec.rate
        with self._slot_lock:
            now = self.history.now()
            slot = max(self._next_slot, now - max(interval, BURST))
            self._next_slot = slot + interval
            return slot

    def _pace(self, client: _Client) -> None:
        """Start the client's next operation at its slot: now if the pace is behind."""
        if self._slot_is_now(client):
            self._begin(client)

    def _slot_is_now(self, client: _Client) -> bool:
        """Take the client's next slot: True if it is now, else its start waits for it on
        the timers."""
        delay = self._take_slot() - self.history.now()
        if delay <= 0:
            return True
        client.paced = self.cluster.timers.call_later(delay, self._begin, client)
        return False

    def _begin(self, client: _Client) -> None:
        client.paced = None
        if client.retired:
            return
        try:
            self._operate(client)
        except Exception:
            # On an agent's reader or the timer thread: the client stops, they go on.
            log.exception("client %s stopped: starting its next operation failed",
                          client.name)
            self._retire(client)

    def _operate(self, client: _Client) -> None:
        nodes = self.cluster.node_ids
        while True:
            if self._stop.is_set() or self.history.now() >= self.spec.duration:
                self._retire(client)
                return
            f, value = self.workload.next_op(client.rng)
            node = client.rng.choice(nodes)
            value = self.workload.bind(node, f, value, nodes, client.name)
            with client.lock:
                client.starting, client.finished = True, False
            try:
                self.executor.start(client.name, node, f, value,
                                    lambda _outcome, _value: self._finished(client))
            finally:
                with client.lock:
                    client.starting = False
                    finished = client.finished
            if not finished:
                return  # _finished carries on when the outcome comes
            # It finished at once (no node reachable, say): loop, not recurse.
            if not self._slot_is_now(client):
                return

    def _retire(self, client: _Client) -> None:
        with self._idle:
            if client.retired:
                return
            client.retired = True
            self._active -= 1
            self._idle.notify_all()

    def _finished(self, client: _Client) -> None:
        with client.lock:
            if client.starting:
                client.finished = True  # _begin is still in start(): it carries on
                return
        self._pace(client)
