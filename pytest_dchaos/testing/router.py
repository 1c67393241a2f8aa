"""An in-memory router: node processes wired by threads, for unit-testing a node.

:class:`Router` starts one subprocess per node, sends each ``init`` (and ``topology``, when
given one), carries node-to-node messages between their stdout and stdin — after an
optional delay, unless the link is cut — answers requests to Maelstrom's services
(``seq-kv`` ..., as the harness does: :mod:`pytest_dchaos.services`) and lets a test act as
a client: send a request and wait for its reply, kill, pause or restart a node. It has no
agents, no TCP and no fault layer: a node's own tests run in seconds, with nothing to
install.

::

    from pytest_dchaos.testing import Router

    with Router(["n1", "n2"], ["/abs/path/my-node"], log_dir=tmp_path,
                topology=full_topology(["n1", "n2"])) as router:
        router.start()
        router.rpc("n1", {"type": "broadcast", "message": 1})
        assert 1 in router.rpc("n2", {"type": "read"})["messages"]

Each node runs in its own folder, ``log_dir/<node>/`` (kept across restarts, as the
harness keeps it), with its stderr in ``stderr.log`` there; so ``command`` is run as
given, and a relative path in it would point into that folder: give absolute paths (the
``dchaos_router`` fixture and the conformance kit resolve relative ones for you).

Threads: per node one reader (its stdout) and one writer (its stdin, fed by a queue, so a
paused node blocks nobody else), plus one scheduler that releases delayed messages.
Standard library only.
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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_dchaos.services import Services

JSON = dict[str, Any]
#: Called with (node, message) for every message a node writes, on that node's reader.
MessageObserver = Callable[[str, JSON], None]


def full_topology(node_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every node a neighbour of every other (the ``topology`` message's map)."""
    nodes = list(node_ids)
    return {n: [m for m in nodes if m != n] for n in nodes}


class _Process:
    """One life of one node: the subprocess and the two threads that move its lines."""

    def __init__(self, node_id: str, command: Sequence[str], folder: Path,
                 env: Mapping[str, str], on_line: Callable[[str, bytes], None]) -> None:
        self.node_id = node_id
        self.log = open(folder / "stderr.log", "ab")  # noqa: SIM115 -- closed in stop()
        try:
            self.proc = subprocess.Popen(
                list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self.log, cwd=folder, env=dict(env))
        except BaseException:
            self.log.close()
            raise
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
        self.log.close()
        return code


class Call:
    """A request on its way: the message sent and, once it comes, the reply to it."""

    def __init__(self, router: Router, message: JSON) -> None:
        self.message = message
        self.sent_at = time.monotonic()
        #: When the reply came (``time.monotonic()``), None until it has.
        self.replied_at: float | None = None
        self._router = router
        self._done = threading.Event()
        self._reply: JSON | None = None

    @property
    def msg_id(self) -> int:
        return int(self.message["body"]["msg_id"])

    def _settle(self, reply: JSON) -> None:
        self._reply = reply
        self.replied_at = time.monotonic()
        self._done.set()

    def wait(self, timeout: float) -> JSON | None:
        """The whole reply message (``src``, ``dest``, ``body``), or None if none came
        within ``timeout`` seconds (it may still come: wait again, or :meth:`abandon`)."""
        self._done.wait(max(0.0, timeout))
        return self._reply

    def abandon(self) -> None:
        """Stop waiting: a reply that comes later goes to :attr:`Router.unclaimed`."""
        self._router._forget(self.msg_id)


class Router:
    """Node processes, the links between them, and clients (``c1`` unless told otherwise).

    ``params`` go to every node in ``init`` as ``dchaos.params``, and ``init_extra(node)``
    adds to that ``dchaos`` object (keys, say). ``topology``, when given, is sent after
    ``init``. ``latency`` delays every node-to-node message by that many seconds (and a
    service's answer by twice that: request and reply). ``seed`` seeds the services. ``env``
    is added to this process's environment for the nodes. ``on_message(node, message)``
    sees every message a node writes, parsed, before it is routed (on the node's reader
    thread: keep it quick).
    """

    def __init__(self, node_ids: Iterable[str], command: Sequence[str], *, log_dir: Path,
                 params: Mapping[str, Any] | None = None,
                 topology: Mapping[str, Sequence[str]] | None = None,
                 latency: float = 0.0,
                 init_extra: Callable[[str], Mapping[str, Any]] | None = None,
                 env: Mapping[str, str] | None = None,
                 on_message: MessageObserver | None = None,
                 init_timeout: float = 10.0, seed: int = 0) -> None:
        self.node_ids = list(node_ids)
        self.command = tuple(command)
        self.params = dict(params or {})
        self.topology = {n: list(m) for n, m in topology.items()} if topology else None
        self.latency = latency
        self.init_extra = init_extra or (lambda node: {})
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.on_message = on_message
        self.init_timeout = init_timeout
        #: Maelstrom's services, never cut off (as in Maelstrom).
        self.services = Services(seed)
        self.log_dir = Path(log_dir)
        self.cut_links: set[tuple[str, str]] = set()
        self.sent: Counter[str] = Counter()  # node-to-node messages by type
        self.dropped = 0
        self.bad_output: list[tuple[str, bytes]] = []  # stdout lines that were no message
        self.unclaimed: list[JSON] = []  # client-bound bodies nobody waited for
        self._procs: dict[str, _Process] = {}
        self._lock = threading.Lock()
        self._msg_ids = itertools.count(1)
        self._waiting: dict[int, Call] = {}
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

    def start(self, *, setup: bool = True) -> Router:
        """Start every node's process and, unless ``setup`` is false, initialise each
        (:meth:`setup`). Without it, the test sends ``init`` itself (:meth:`init_body`)."""
        for node in self.node_ids:
            self._spawn(node)
        if setup:
            for node in self.node_ids:
                self.setup(node)
        return self

    def folder(self, node: str) -> Path:
        """The node's working folder, which holds its ``stderr.log``."""
        return self.log_dir / node

    def _spawn(self, node: str) -> None:
        folder = self.folder(node)
        folder.mkdir(parents=True, exist_ok=True)
        self._procs[node] = _Process(node, self.command, folder, self.env, self._route)

    def init_body(self, node: str) -> JSON:
        """The ``init`` the router sends ``node``: the harness's, ``dchaos`` object included."""
        return {"type": "init", "node_id": node, "node_ids": list(self.node_ids),
                "dchaos": {"params": self.params, **self.init_extra(node)}}

    def setup(self, node: str) -> None:
        """Send ``init`` (and ``topology``, if the router has one) and wait for the answers;
        AssertionError if one is not the ``_ok`` it should be."""
        reply = self.rpc(node, self.init_body(node), timeout=self.init_timeout, src="c0")
        assert reply["type"] == "init_ok", f"{node} answered init with {reply}"
        if self.topology is None:
            return
        reply = self.rpc(node, {"type": "topology", "topology": self.topology}, src="c0")
        assert reply["type"] == "topology_ok", f"{node} answered topology with {reply}"

    def close(self) -> None:
        """Stop every node and thread and close every file (safe to call twice)."""
        for proc in self._procs.values():
            proc.stop()
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._scheduler.join(10)

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

    def returncode(self, node: str) -> int | None:
        """The exit status of the node's current process; None while it runs."""
        return self._procs[node].proc.poll()

    def log(self, node: str) -> str:
        """What the node has written to stderr so far (every life of it)."""
        return (self.folder(node) / "stderr.log").read_text(errors="replace")

    def live(self) -> list[str]:
        return [n for n in self.node_ids if self.alive(n)]

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
            assert isinstance(dest, str) and isinstance(body, dict)
            assert isinstance(body["type"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self.bad_output.append((src, line))
            return
        if self.on_message is not None:
            self.on_message(src, msg)
        if dest in self.services:
            answer = self.services.answer(msg)
            if answer is not None:
                self._carry(src, json.dumps(answer).encode() + b"\n", 2 * self.latency)
            return
        if dest not in self._procs:
            self._client_reply(msg)
            return
        with self._wake:
            self.sent[body["type"]] += 1
            if (src, dest) in self.cut_links:
                self.dropped += 1
                return
        self._carry(dest, line, self.latency)

    def _carry(self, dest: str, line: bytes, delay: float) -> None:
        """Hand ``line`` to ``dest``'s process after ``delay`` seconds."""
        with self._wake:
            if delay <= 0:
                self._procs[dest].deliver(line)
                return
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq),
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

    # -- clients --------------------------------------------------------------------------

    def send_line(self, node: str, line: bytes) -> None:
        """Write raw bytes to the node's stdin (for malformed-input tests)."""
        self._procs[node].deliver(line if line.endswith(b"\n") else line + b"\n")

    def send(self, node: str, body: Mapping[str, Any], *, src: str = "c1") -> Call:
        """Send ``body`` from client ``src`` to ``node`` with a fresh ``msg_id`` (unique
        across every client of this router) and return at once; :meth:`Call.wait` for the
        reply."""
        call = Call(self, {"src": src, "dest": node,
                           "body": {**body, "msg_id": next(self._msg_ids)}})
        with self._lock:
            self._waiting[call.msg_id] = call
        self._procs[node].deliver(json.dumps(call.message).encode() + b"\n")
        return call

    def rpc(self, node: str, body: Mapping[str, Any], timeout: float = 5.0,
            src: str = "c1") -> JSON:
        """Send ``body`` from client ``src`` to ``node``; the reply body, or TimeoutError."""
        call = self.send(node, body, src=src)
        reply = call.wait(timeout)
        if reply is None:
            call.abandon()
            raise TimeoutError(f"{node} did not answer {body['type']} within {timeout}s")
        return dict(reply["body"])

    def _forget(self, msg_id: int) -> None:
        with self._lock:
            self._waiting.pop(msg_id, None)

    def _client_reply(self, message: JSON) -> None:
        body = message["body"]
        reply_to = body.get("in_reply_to")
        with self._lock:
            # JSON true is a Python int equal to 1: it names no request.
            known = isinstance(reply_to, int) and not isinstance(reply_to, bool)
            call = self._waiting.pop(reply_to, None) if known else None
        if call is None:
            self.unclaimed.append(body)
            return
        call._settle(message)

    # -- conveniences for the broadcast workload ------------------------------------------

    def read(self, node: str) -> list[int]:
        reply = self.rpc(node, {"type": "read"})
        assert reply["type"] == "read_ok", reply
        return list(reply["messages"])

    def broadcast(self, node: str, value: int) -> None:
        reply = self.rpc(node, {"type": "broadcast", "message": value})
        assert reply["type"] == "broadcast_ok", reply

    def members(self, node: str) -> JSON:
        reply = self.rpc(node, {"type": "members"})
        assert reply["type"] == "members_ok", reply
        return reply
