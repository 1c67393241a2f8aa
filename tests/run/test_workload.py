"""The workload runner: clients that are not threads, paced, one operation at a time each.

The cluster here is a stand-in with the two things the runner uses (its node ids and its
timers), and the workload answers on a thread of its own, as an agent's reader would.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from pytest_dchaos.cluster.timers import Timers
from pytest_dchaos.errors import NodeDown
from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, taken_down
from pytest_dchaos.run.workload import BURST, OpExecutor, WorkloadRunner
from pytest_dchaos.scenario.model import WorkloadSpec


class Request(Future[dict[str, Any]]):
    def __init__(self) -> None:
        super().__init__()
        self.abandoned = False

    def abandon(self, cluster: Any) -> None:
        self.abandoned = True


class FakeCluster:
    node_ids = ("n1", "n2", "n3")

    def __init__(self) -> None:
        self.timers = Timers("test-timers")


class Writes(Workload):
    """Writes that are answered after ``delay`` (``reply``), refused at once (``down``) or
    never answered (``silent``)."""

    def __init__(self, mode: str, delay: float = 0.002) -> None:
        self.mode, self.delay = mode, delay
        self.requests: list[Request] = []
        self._replies: queue.Queue[Request | None] = queue.Queue()
        self._answerer = threading.Thread(target=self._answer, name="answerer", daemon=True)
        self._answerer.start()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        return "write", rng.randrange(100)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": f, "value": value}

    def completion(self, f: str, value: Any, reply: Any) -> tuple[str, Any]:
        return OK, value

    def submit(self, cluster: Any, client: str, node: str, f: str, value: Any) -> Request:
        request = Request()
        self.requests.append(request)
        if self.mode in ("down", "taken down"):
            request.set_exception(NodeDown(f"{node} is not running",
                                           by_harness=self.mode == "taken down"))
        elif self.mode == "reply":
            self._replies.put(request)
        return request

    def _answer(self) -> None:
        while (request := self._replies.get()) is not None:
            time.sleep(self.delay)
            request.set_result({"type": "write_ok"})

    def close(self) -> None:
        self._replies.put(None)
        self._answerer.join(5)


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    fake = FakeCluster()
    yield fake
    fake.timers.close()


def run(cluster: FakeCluster, workload: Writes, **spec: Any) -> tuple[WorkloadRunner, History]:
    history = History()
    runner = WorkloadRunner(cluster, workload, WorkloadSpec(**spec), history, seed=7)  # type: ignore[arg-type]
    runner.start()
    time.sleep(spec["duration"])
    runner.stop()
    workload.close()
    return runner, history


def one_at_a_time(history: History) -> bool:
    """Each client's operations alternate invocation, completion."""
    open_ops: set[str] = set()
    for op in history.ops:
        if op.type == INVOKE:
            if op.process in open_ops:
                return False
            open_ops.add(op.process)
        else:
            open_ops.discard(op.process)
    return True


def test_hundreds_of_clients_cost_no_thread_each(cluster: FakeCluster) -> None:
    before = threading.active_count()
    seen: list[int] = []
    workload = Writes("reply")
    sampler_stop = threading.Event()

    def sample() -> None:
        while not sampler_stop.wait(0.02):
            seen.append(threading.active_count())

    sampler = threading.Thread(target=sample)
    sampler.start()
    runner, history = run(cluster, workload, clients=300, rate=3000, duration=0.6, timeout=2)
    sampler_stop.set()
    sampler.join()
    # The answerer, the timer thread and the sampler: nothing per client.
    assert max(seen) <= before + 3
    assert runner.counts[OK] > 300 and runner.counts[FAIL] == runner.counts[INFO] == 0
    assert len({op.process for op in history.ops}) == 300
    assert one_at_a_time(history)


def test_operations_refused_at_once_keep_the_pace_and_do_not_recurse(
        cluster: FakeCluster) -> None:
    rate, duration = 200, 0.5
    runner, history = run(cluster, Writes("down"), clients=3, rate=rate, duration=duration,
                          timeout=1)
    done = runner.counts[FAIL]
    # Paced: at most the rate over the duration, plus the burst the pace allows.
    assert 0.5 * rate * duration <= done <= rate * duration + BURST * rate + 3
    assert runner.counts[OK] == runner.counts[INFO] == 0
    assert all(op.error and "not running" in op.error for op in history.ops
               if op.type == FAIL)
    assert one_at_a_time(history)


@pytest.mark.parametrize(("mode", "marked"), [("taken down", True), ("down", False)])
def test_an_operation_the_harness_did_not_deliver_says_so_if_it_took_the_node_down(
        cluster: FakeCluster, mode: str, marked: bool) -> None:
    # A node the harness took down never saw the request; one that fell on its own is
    # still the node's doing, and its failures count as any other.
    _, history = run(cluster, Writes(mode), clients=1, rate=50, duration=0.1, timeout=1)
    failed = [op for op in history.ops if op.type == FAIL]
    assert failed and all(taken_down(op) is marked for op in failed)
    assert all(op.error and op.error.endswith(" is not running") for op in failed)


def test_an_unanswered_operation_times_out_unknown_and_is_abandoned(
        cluster: FakeCluster) -> None:
    workload = Writes("silent")
    started = time.monotonic()
    runner, history = run(cluster, workload, clients=2, rate=100, duration=0.1, timeout=0.3)
    assert time.monotonic() - started < 2  # stop() waited for the timeouts, no longer
    assert runner.counts[INFO] == 2 and runner.counts[OK] == 0  # a write: it may have happened
    assert all(request.abandoned for request in workload.requests)
    assert [op.error for op in history.ops if op.type == INFO] == ["timeout", "timeout"]


def test_run_waits_for_one_outcome_and_a_late_reply_changes_nothing(
        cluster: FakeCluster) -> None:
    workload = Writes("silent")
    history = History()
    executor = OpExecutor(cluster, workload, history, timeout=0.1)  # type: ignore[arg-type]
    assert executor.run("c1", "n1", "write", 5) == (INFO, 5)
    workload.requests[0].set_result({"type": "write_ok"})  # too late
    workload.close()
    assert Counter(op.type for op in history.ops) == {INVOKE: 1, INFO: 1}
    assert executor.counts == {OK: 0, FAIL: 0, INFO: 1}


class BadBind(Writes):
    """Fails to start client c2's second operation (a bug in a family's workload)."""

    def __init__(self) -> None:
        super().__init__("reply")
        self.started: Counter[str] = Counter()

    def bind(self, node: str, f: str, value: Any, nodes: tuple[str, ...], client: str) -> Any:
        self.started[client] += 1
        if client == "c2" and self.started[client] == 2:
            raise RuntimeError("bug in bind")
        return value


def test_a_client_whose_operation_fails_to_start_stops_alone(
        cluster: FakeCluster, caplog: pytest.LogCaptureFixture) -> None:
    workload = BadBind()
    started = time.monotonic()
    _runner, history = run(cluster, workload, clients=3, rate=300, duration=0.4, timeout=1)
    assert time.monotonic() - started < 2  # stop() did not wait for the stopped client
    per_client = Counter(op.process for op in history.ops if op.type == OK)
    assert per_client["c2"] == 1 and per_client["c1"] > 10 and per_client["c3"] > 10
    assert "client c2 stopped" in caplog.text and "bug in bind" in caplog.text


def test_stop_does_not_wait_for_clients_idle_until_a_distant_slot(
        cluster: FakeCluster) -> None:
    workload = Writes("reply")
    history = History()
    runner = WorkloadRunner(cluster, workload,  # type: ignore[arg-type]
                            WorkloadSpec(clients=3, rate=0.5, duration=60, timeout=5),
                            history, seed=7)
    runner.start()
    time.sleep(0.3)  # the first operation done; the next slots are seconds away
    started = time.monotonic()
    runner.stop()
    workload.close()
    assert time.monotonic() - started < 0.5
    assert runner.counts[OK] == 1 and one_at_a_time(history)
