"""Runs a family's client workload against a cluster and writes the history.

``clients`` threads (c1..cK) each do one operation at a time, as a Jepsen client process
does; together they are paced to ``rate`` operations per second. Every operation goes to a
node drawn from the seed. Outcomes follow Maelstrom's rules: a reply is ok, a definite error
is a fail, a timeout or a crash mid-request is info (unknown) — except for reads, which
change nothing and so simply fail.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pytest_dchaos.cluster import Cluster
from pytest_dchaos.errors import HarnessError, NodeDown, NodeError, RpcTimeout
from pytest_dchaos.history import FAIL, INFO, OK, History, Op
from pytest_dchaos.protocols.base import Workload
from pytest_dchaos.scenario.model import WorkloadSpec


class OpExecutor:
    """Invokes single operations and records invocation and outcome in the history."""

    def __init__(self, cluster: Cluster, workload: Workload, history: History,
                 timeout: float) -> None:
        self.cluster = cluster
        self.workload = workload
        self.history = history
        self.timeout = timeout
        self.counts = {OK: 0, FAIL: 0, INFO: 0}
        self._lock = threading.Lock()

    def run(self, client: str, node: str, f: str, value: Any) -> tuple[str, Any]:
        """Invoke one operation, wait for its outcome, record both; ``(outcome, value)``."""
        invocation = self.history.invoke(client, f, value,
                                         None if self.workload.to_every_node else node)
        try:
            future = self.workload.submit(self.cluster, client, node, f, value)
        except HarnessError as exc:
            return self._done(invocation, FAIL, value, str(exc))
        try:
            reply = future.result(self.timeout)
        except FutureTimeout:
            future.abandon(self.cluster)
            return self._done(invocation, self.workload.timeout_outcome(f), value, "timeout")
        except NodeDown as exc:
            return self._done(invocation, FAIL, value, str(exc))
        except (RpcTimeout, NodeError) as exc:
            return self._done(invocation, self.workload.timeout_outcome(f), value, str(exc))
        if reply.get("type") == "error":
            code = reply.get("code")
            outcome = self.workload.error_outcome(f, code if isinstance(code, int) else None)
            return self._done(invocation, outcome, value,
                              f"error {code}: {reply.get('text', '')}".strip())
        outcome, result = self.workload.completion(f, value, reply)
        error = None if outcome == OK else f"unexpected reply {reply!r}"
        return self._done(invocation, outcome, result, error)

    def _done(self, invocation: Op, outcome: str, value: Any,
              error: str | None) -> tuple[str, Any]:
        self.history.complete(invocation, outcome, value, error)
        with self._lock:
            self.counts[outcome] += 1
        return outcome, value


class WorkloadRunner:
    """``spec.clients`` client threads paced to ``spec.rate`` for ``spec.duration``."""

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
        self._threads: list[threading.Thread] = []

    @property
    def counts(self) -> dict[str, int]:
        return self.executor.counts

    def start(self) -> None:
        self._next_slot = self.history.now()
        for index in range(1, self.spec.clients + 1):
            thread = threading.Thread(target=self._client, args=(f"c{index}",),
                                      name=f"client-c{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """No new operations; wait for those in flight (each bounded by the timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.spec.timeout + 5)

    def _take_slot(self) -> float:
        """The time this client may start its next operation (paces all clients to rate)."""
        interval = 1.0 / self.spec.rate
        with self._slot_lock:
            now = self.history.now()
            # Clients stuck on timeouts must not come back to a burst of overdue slots.
            slot = max(self._next_slot, now - interval)
            self._next_slot = slot + interval
            return slot

    def _client(self, client: str) -> None:
        rng = random.Random(f"dchaos-client:{self.seed}:{client}")
        nodes = self.cluster.node_ids
        while not self._stop.is_set():
            delay = self._take_slot() - self.history.now()
            # Behind the pace (a saturated system): no wait, which costs even at zero.
            if self._stop.wait(delay) if delay > 0 else self._stop.is_set():
                return
            if self.history.now() >= self.spec.duration:
                return
            f, value = self.workload.next_op(rng)
            node = rng.choice(nodes)
            self.executor.run(client, node, f, self.workload.bind(node, f, value, nodes, client))
