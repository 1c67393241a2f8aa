"""A test-only, in-process stand-in for the harness: node processes wired by threads.

It starts one subprocess per node, sends ``init`` (with ``dchaos.params``) and
``topology``, carries node-to-node messages between their stdin and stdout — after an
optional delay, unless the link is cut — and lets a test act as client ``c1``: send a
request and wait for its reply, kill, pause or restart a node. It is a fake for the
node-level tests of reference nodes, not the product: no agents, no TCP, no Toxiproxy.

Threads: per node one reader (its stdout) and one writer (its stdin, fed by a queue, so a
paused node blocks nobody else), plus one scheduler that releases delayed messages.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
GOSSIP_COMMAND = (sys.executable, "-m", "reference_nodes.gossip")

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Call ``check`` until it stops raising AssertionError; re-raise the last one at the end."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


class _Process:
    """One life of one node: the subprocess and the two threads that move its lines."""

    def __init__(self, node_id: str, command: Sequence[str], log: IO[bytes],
                 on_line: Callable[[str, bytes], None]) -> None:
        self.node_id = node_id
        self.proc = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self._on_line = on_line
        self.reader = threading.Thread(target=self._read, name=f"{node_id}-out", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"{node_id}-in", daemon=True)
        self.reader.start()
        self.writer.start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._on_line(self.node_id, line)

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while (line := self.inbox.get()) is not None:
            try:
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                break
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stdin.close()

    def deliver(self, line: bytes) -> None:
        self.inbox.put(line)

    def stop(self, kill: bool = True) -> int | None:
        """Kill (or, with ``kill=False``, end stdin and wait for) the process; reap threads."""
        if kill and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)  # a paused process cannot die cleanly
            self.proc.kill()
        self.inbox.put(None)
        self.writer.join(10)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


class Router:
    """N node processes, the links between them, and a client ``c1``."""

    def __init__(self, node_ids: Iterable[str], *, log_dir: Path,
                 command: Sequence[str] = GOSSIP_COMMAND, params: dict[str, Any] | None = None,
                 topology: dict[str, list[str]] | None = None, send_topology: bool = True,
                 latency: float = 0.0,
                 init_extra: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.node_ids = list(node_ids)
        self.command = tuple(command)
        self.params = dict(params or {})
        self.topology = topology or {n: [m for m in self.node_ids if m != n]
                                     for n in self.node_ids}
        self.send_topology = send_topology
        self.latency = latency
        self.init_extra = init_extra or (lambda node: {})
        self.log_dir = log_dir
        self.cut_links: set[tuple[str, str]] = set()
        self.sent: Counter[str] = Counter()  # node-to-node messages by type
        self.dropped = 0
        self.bad_output: list[tuple[str, bytes]] = []  # stdout lines that were no message
        self.unclaimed: list[dict[str, Any]] = []  # client-bound bodies nobody waited for
        self._procs: dict[str, _Process] = {}
        self._logs: list[IO[bytes]] = []
        self._lock = threading.Lock()
        self._msg_ids = itertools.count(1)
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._scheduler = threading.Thread(target=self._release, name="scheduler", daemon=True)
        self._scheduler.start()

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Router:
        for node in self.node_ids:
            self._spawn(node)
        for node in self.node_ids:
            self.setup(node)
        return self

    def _spawn(self, node: str) -> None:
        log = open(self.log_dir / f"{node}.log", "ab")  # noqa: SIM115 -- closed in close()
        self._logs.append(log)
        self._procs[node] = _Process(node, self.command, log, self._route)

    def setup(self, node: str) -> None:
        """Send ``init`` (and ``topology``, unless told not to) and wait for the answers."""
        init = {"type": "init", "node_id": node, "node_ids": self.node_ids,
                "dchaos": {"params": self.params, **self.init_extra(node)}}
        reply = self.rpc(node, init, timeout=10, src="c0")
        assert reply["type"] == "init_ok", reply
        if not self.send_topology:
            return
        reply = self.rpc(node, {"type": "topology", "topology": self.topology}, src="c0")
        assert reply["type"] == "topology_ok", reply

    def close(self) -> None:
        """Stop every node and thread and close every file (safe to call twice)."""
        for proc in self._procs.values():
            proc.stop()
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._scheduler.join(10)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def kill(self, node: str) -> None:
        """SIGKILL the node; it stays down until :meth:`restart`."""
        self._procs[node].stop()

    def restart(self, node: str) -> None:
        """A fresh process for ``node`` (killing the old one), initialised again."""
        self._procs[node].stop()
        self._spawn(node)
        self.setup(node)

    def pause(self, node: str) -> None:
        os.kill(self._procs[node].proc.pid, signal.SIGSTOP)

    def resume(self, node: str) -> None:
        os.kill(self._procs[node].proc.pid, signal.SIGCONT)

    def alive(self, node: str) -> bool:
        return self._procs[node].alive

    def log(self, node: str) -> str:
        """What the node has written to stderr so far (every life of it)."""
        return (self.log_dir / f"{node}.log").read_text(errors="replace")

    # -- the network ----------------------------------------------------------------------

    def cut(self, src: str, dest: str, both_ways: bool = True) -> None:
        self.cut_links.add((src, dest))
        if both_ways:
            self.cut_links.add((dest, src))

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups (nodes in no group are cut off alone)."""
        side = {n: i for i, group in enumerate(groups) for n in group}
        for a in self.node_ids:
            for b in self.node_ids:
                if a != b and side.get(a, f"alone-{a}") != side.get(b, f"alone-{b}"):
                    self.cut_links.add((a, b))

    def heal(self) -> None:
        self.cut_links.clear()

    def _route(self, src: str, line: bytes) -> None:
        try:
            msg = json.loads(line)
            dest = msg["dest"]
            body = msg["body"]
            assert isinstance(body, dict) and isinstance(body["type"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self.bad_output.append((src, line))
            return
        if not dest.startswith("n"):
            self._client_reply(body)
            return
        with self._wake:
            self.sent[body["type"]] += 1
            if (src, dest) in self.cut_links or dest not in self._procs:
                self.dropped += 1
                return
            if self.latency <= 0:
                self._procs[dest].deliver(line)
                return
            heapq.heappush(self._heap, (time.monotonic() + self.latency, next(self._seq),
                                        dest, line))
            self._wake.notify()

    def _release(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, dest, line = heapq.heappop(self._heap)
                    self._procs[dest].deliver(line)
                timeout = self._heap[0][0] - now if self._heap else None
                self._wake.wait(timeout)

    # -- the client -----------------------------------------------------------------------

    def send_line(self, node: str, line: bytes) -> None:
        """Write raw bytes to the node's stdin (for malformed-input tests)."""
        self._procs[node].deliver(line if line.endswith(b"\n") else line + b"\n")

    def rpc(self, node: str, body: dict[str, Any], timeout: float = 5.0,
            src: str = "c1") -> dict[str, Any]:
        """Send ``body`` from client ``src`` to ``node``; the reply body, or TimeoutError."""
        msg_id = next(self._msg_ids)
        done = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            self._waiting[msg_id] = (done, box)
        message = {"src": src, "dest": node, "body": {**body, "msg_id": msg_id}}
        self._procs[node].deliver(json.dumps(message).encode() + b"\n")
        if not done.wait(timeout):
            with self._lock:
                self._waiting.pop(msg_id, None)
            raise TimeoutError(f"{node} did not answer {body['type']} within {timeout}s")
        return box[0]

    def _client_reply(self, body: dict[str, Any]) -> None:
        with self._lock:
            waiter = self._waiting.pop(body.get("in_reply_to"), None)  # type: ignore[arg-type]
        if waiter is None:
            self.unclaimed.append(body)
            return
        waiter[1].append(body)
        waiter[0].set()

    # -- conveniences for gossip tests ----------------------------------------------------

    def read(self, node: str) -> list[int]:
        reply = self.rpc(node, {"type": "read"})
        assert reply["type"] == "read_ok", reply
        return reply["messages"]

    def broadcast(self, node: str, value: int) -> None:
        reply = self.rpc(node, {"type": "broadcast", "message": value})
        assert reply["type"] == "broadcast_ok", reply

    def members(self, node: str) -> dict[str, Any]:
        reply = self.rpc(node, {"type": "members"})
        assert reply["type"] == "members_ok", reply
        return reply

    def live(self) -> list[str]:
        return [n for n in self.node_ids if self.alive(n)]
