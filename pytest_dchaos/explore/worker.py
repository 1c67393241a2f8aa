"""A search worker of ``dchaos explore --workers N``: runs the schedules it is handed, one
at a time, and answers each with its :class:`~pytest_dchaos.explore.attempt.Tried`.

Started by :class:`~pytest_dchaos.explore.pool.ProcessPool` as ``python -m
pytest_dchaos.explore.worker --worker I --backend local``. It reads ``{"job": ...}`` lines on
stdin and prints, on stdout, a ready line once the harness is loaded, then ``{"done":
...}`` per job (or ``{"crashed": ...}`` when the harness itself failed). When stdin closes,
it exits; if a run is under way then, that run is stopped first, as Ctrl-C stops a run:
every node, agent and proxy of it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from pytest_dchaos.errors import DchaosError
from pytest_dchaos.explore.attempt import Tried, attempt
from pytest_dchaos.explore.pool import Job
from pytest_dchaos.interrupts import exit_code, sigterm_interrupts
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions
from pytest_dchaos.scenario.loader import parse_scenario


class _Inbox:
    """Job lines from stdin, read on a thread of their own; when stdin closes during a run,
    the run is interrupted (SIGTERM to this process, which unwinds it as Ctrl-C would)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._running = False
        threading.Thread(target=self._read, args=(stream,), name="inbox", daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        with self._lock:
            self._closed = True
            if self._running:
                os.kill(os.getpid(), signal.SIGTERM)
        self._lines.put(None)

    def next_job(self) -> Job | None:
        """The next job, marked as running; None once stdin is closed."""
        line = self._lines.get()
        with self._lock:
            if line is None or self._closed:
                return None
            self._running = True
        return Job.from_json(json.loads(line)["job"])

    def done(self) -> None:
        with self._lock:
            self._running = False


def run_job(job: Job, registry: Registry, options: RunOptions) -> Tried:
    run_options = RunOptions(backend=options.backend, seed=job.seed,
                               report_dir=Path(job.report_dir), toxiproxy=options.toxiproxy,
                               toxiproxy_image=options.toxiproxy_image)
    try:
        scenario = parse_scenario(job.text, job.where, registry)
    except DchaosError as exc:
        return Tried(job.number, "search", job.seed, job.faults, job.shapes, "error", [],
                     str(exc), 0.0, [], twins=job.twins)
    tried, _ = attempt(scenario, run_options, registry, job.number, "search", job.seed,
                       job.faults, job.shapes)
    tried.twins = job.twins
    return tried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_dchaos.explore.worker")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--toxiproxy")
    parser.add_argument("--toxiproxy-image")
    args = parser.parse_args(argv)
    # Our answers go to the explorer on the real stdout; anything else printed (by a
    # plugin, say) goes to stderr, which is the worker's log.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sigterm_interrupts()

    def answer(message: object) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    try:
        registry = Registry()
        options = RunOptions(backend=args.backend, toxiproxy=args.toxiproxy,
                             toxiproxy_image=args.toxiproxy_image)
        inbox = _Inbox(sys.stdin)
        answer({"event": "ready", "worker": args.worker, "pid": os.getpid()})
        while (job := inbox.next_job()) is not None:
            try:
                tried = run_job(job, registry, options)
            except Exception as exc:  # a bug of the harness: tell the explorer, then log it
                traceback.print_exc()
                answer({"crashed": f"{type(exc).__name__}: {exc}"})
                return 1
            finally:
                inbox.done()
            answer({"done": tried.to_json()})
    except KeyboardInterrupt as interrupt:
        return exit_code(interrupt)
    except BrokenPipeError:
        return 0  # the explorer went away; its pipe closing stops us anyway
    return 0


if __name__ == "__main__":
    sys.exit(main())
