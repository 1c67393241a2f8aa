"""Where the search runs its schedules: one at a time in this process, or side by side in
worker processes (``dchaos explore --workers N``).

The explorer hands out schedules in order, k = 1, 2, 3, ..., to whichever slot is free,
and takes the runs back as they finish, in any order (:class:`SearchPool`). A worker is a
process of its own (``python -m pytest_dchaos.explore.worker``) that runs one schedule at a
time through the same :func:`~pytest_dchaos.explore.attempt.attempt` as the explorer, on
the local backend, with a report folder, ports, node folders and names of that run's own:
two runs side by side share nothing but the machine.

A worker lives in its own session (a Ctrl-C in the terminal reaches only the explorer) and
reads its jobs from a pipe; when the pipe closes — the explorer is done, interrupted, or
died — the worker stops the run under way (every node and proxy of it) and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest_dchaos
from pytest_dchaos.backends.local.processes import ChildProcess, kill_group
from pytest_dchaos.errors import DchaosError, HarnessError
from pytest_dchaos.explore.attempt import Tried
from pytest_dchaos.explore.schedule import FaultEntry

#: Seconds a worker gets to start (import the harness, load the plugins).
READY_TIMEOUT = 60.0
#: Seconds a worker gets to stop the run under way (nodes, agents, proxies) and exit.
STOP_GRACE = 30.0


@dataclass(frozen=True)
class Job:
    """The search's k-th schedule, to run once."""

    #: k, which is also the run's number in ``explore.json``.
    number: int
    seed: int
    faults: list[FaultEntry]
    shapes: list[str]
    #: The scenario with these faults, as the loader validated it, and the name its errors
    #: and reports give it.
    text: str
    where: str
    report_dir: str
    #: The ``cluster.twins`` entries the schedule added (already in ``text``).
    twins: list[FaultEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(**data)


class SearchPool(Protocol):
    """Slots that run search jobs; the explorer's only view of where runs happen."""

    #: How many jobs can run at once.
    size: int

    def idle(self) -> int:
        """Free slots: :meth:`submit` may be called this many times before :meth:`wait`."""

    def submit(self, job: Job) -> None:
        """Start ``job`` in a free slot."""

    def wait(self) -> list[Tried]:
        """Block until at least one job under way has finished; return those that have,
        each told as a :class:`Tried` whose ``number`` is its job's (and ``worker`` the slot
        it ran in, 1..size). Raises :class:`DchaosError` if a slot broke down."""

    def cancel(self, number: int) -> None:
        """Stop job ``number``, under way, without waiting for it: :meth:`wait` never
        returns it, and its slot is not used again (:meth:`close` waits for it to stop)."""

    def close(self) -> None:
        """Stop every job under way (its nodes and proxies with it) and free the slots."""


class InlinePool:
    """One slot: the job runs in this process, when :meth:`wait` is called (``--workers
    1``: a Ctrl-C reaches the run directly, as it does ``dchaos run``)."""

    size = 1

    def __init__(self, run: Callable[[Job], Tried]) -> None:
        self._run = run
        self._job: Job | None = None

    def idle(self) -> int:
        return 0 if self._job is not None else 1

    def submit(self, job: Job) -> None:
        assert self._job is None, "the inline pool runs one job at a time"
        self._job = job

    def wait(self) -> list[Tried]:
        job, self._job = self._job, None
        assert job is not None, "nothing to wait for"
        return [self._run(job)]

    def cancel(self, number: int) -> None:
        # A job here runs inside wait(): none is ever under way when cancel can be called.
        raise AssertionError(f"the inline pool has no run {number} under way")

    def close(self) -> None:
        self._job = None


class ProcessPool:
    """``size`` worker processes, each running one job at a time."""

    def __init__(self, size: int, log_dir: Path, *, backend: str = "local",
                 toxiproxy: str | None = None, toxiproxy_image: str | None = None) -> None:
        self.size = size
        self._log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self._workers: list[_Worker] = []
        try:
            for number in range(1, size + 1):
                self._workers.append(_Worker(number, log_dir, backend=backend,
                                             toxiproxy=toxiproxy,
                                             toxiproxy_image=toxiproxy_image))
            for worker in self._workers:
                worker.child.wait_ready(READY_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def idle(self) -> int:
        return sum(w.job is None and not w.stopping for w in self._workers)

    def submit(self, job: Job) -> None:
        worker = next(w for w in self._workers if w.job is None and not w.stopping)
        worker.send(job)

    def cancel(self, number: int) -> None:
        worker = next(w for w in self._workers if w.job is not None and w.job.number == number)
        worker.stop_soon()

    def wait(self) -> list[Tried]:
        busy = {w.fd: w for w in self._workers if w.job is not None and not w.stopping}
        assert busy, "nothing to wait for"
        finished: list[Tried] = []
        while not finished:
            readable, _, _ = select.select(list(busy), [], [])
            for fd in readable:
                finished += busy[fd].take_output()
        return finished

    def close(self) -> None:
        """Close every worker's pipe (its cue to stop the run under way and exit), wait for
        them, and kill those that do not exit in time. A second Ctrl-C while waiting kills
        them at once: their agents see their own pipes close and stop their nodes."""
        workers = list(self._workers)  # the exited ones too: their pipes and logs close
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(workers))) as stopping:
                list(stopping.map(lambda w: w.child.stop(grace=STOP_GRACE), workers))
        except BaseException:
            for worker in workers:
                kill_group(worker.child.proc.pid)
            raise
        finally:
            for worker in self._workers:
                worker.job = None
                worker.discard_empty_log()
            with contextlib.suppress(OSError):
                self._log_dir.rmdir()  # when every log was empty


class _Worker:
    def __init__(self, number: int, log_dir: Path, *, backend: str,
                 toxiproxy: str | None, toxiproxy_image: str | None) -> None:
        self.number = number
        self.job: Job | None = None
        #: Told to stop (its pipe closed); no longer given jobs nor waited for.
        self.stopping = False
        self._pending = b""
        argv = [sys.executable, "-m", "pytest_dchaos.explore.worker", "--worker", str(number),
                "--backend", backend]
        if toxiproxy:
            argv += ["--toxiproxy", toxiproxy]
        if toxiproxy_image:
            argv += ["--toxiproxy-image", toxiproxy_image]
        self.log_path = log_dir / f"worker-{number}.log"
        self.child = ChildProcess(f"search worker {number}", argv, log_path=self.log_path,
                                  env={**os.environ, "PYTHONPATH": _pythonpath()})
        assert self.child.proc.stdout is not None
        self.fd = self.child.proc.stdout.fileno()

    def send(self, job: Job) -> None:
        stdin = self.child.proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"job": job.to_json()}).encode() + b"\n")
            stdin.flush()
        except OSError:
            raise self._broke(f"could not be handed run {job.number}") from None
        self.job = job

    def stop_soon(self) -> None:
        """Close the worker's pipe: it stops its run and exits (:meth:`ChildProcess.stop`
        waits for that)."""
        self.stopping = True
        stdin = self.child.proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()

    def take_output(self) -> list[Tried]:
        """Read what the worker printed: the run it finished, if it did."""
        data = self.child.read_output()
        if not data:
            raise self._broke("exited")
        self._pending += data
        finished: list[Tried] = []
        while b"\n" in self._pending:
            line, _, self._pending = self._pending.partition(b"\n")
            try:
                message = json.loads(line)
            except ValueError:
                raise self._broke(f"printed {line[:200]!r}; this is a bug in dchaos") from None
            if "crashed" in message:
                raise self._broke(f"failed: {message['crashed']}; this is a bug in dchaos")
            tried = Tried.from_json(message["done"])
            tried.worker = self.number
            finished.append(tried)
            self.job = None
        return finished

    def _broke(self, what: str) -> DchaosError:
        running = f" while running schedule {self.job.number}" if self.job else ""
        return HarnessError(f"search worker {self.number} {what}{running} (its log: "
                            f"{self.log_path})")

    def discard_empty_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size == 0:
                self.log_path.unlink()


def _pythonpath() -> str:
    """PYTHONPATH with the folder that holds pytest_dchaos first, however it was
    installed: the worker imports the very harness the explorer runs."""
    root = str(Path(str(pytest_dchaos.__file__)).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + path if path else "")


__all__ = ["InlinePool", "Job", "ProcessPool", "SearchPool"]
