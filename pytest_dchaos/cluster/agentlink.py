"""The harness end of an agent's control connection.

One :class:`AgentLink` per node: requests (``configure``, ``start``, ``signal`` ...) are
answered by id; everything else the agent says on its own (a node's reply to a client, a
node that exited, a line that is not a message) is handed to ``on_event``. A reader thread
per link keeps the harness simple to drive from synchronous code, pytest fixtures included.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pytest_dchaos.errors import HarnessError

log = logging.getLogger(__name__)
EventHandler = Callable[[str, dict[str, Any]], None]
#: json.loads and json.dumps without their per-call set-up (agents speak UTF-8).
_decode = json.JSONDecoder().decode
_encode = json.JSONEncoder(separators=(",", ":")).encode
_quote = json.encoder.encode_basestring_ascii
#: Messages an agent's reader thread sends while it handles what one read brought (the
#: next requests of the clients whose replies came) leave together, one send per agent,
#: when it is done: ``links`` is then the set of links holding some.
_held = threading.local()


class AgentLink:
    def __init__(self, node: str, address: tuple[str, int], on_event: EventHandler,
                 connect_timeout: float = 10.0) -> None:
        self.node = node
        self.address = address
        self._on_event = on_event
        try:
            self._sock = socket.create_connection(address, timeout=connect_timeout)
        except OSError as exc:
            raise HarnessError(
                f"cannot reach the agent of {node} at {address[0]}:{address[1]}: {exc}"
            ) from None
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._write_lock = threading.Lock()
        self._outbox: deque[bytes] = deque()
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read, name=f"agent-{node}", daemon=True)
        self._reader.start()

    def call(self, cmd: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer; a refusal raises :class:`HarnessError`."""
        return self.submit(cmd, **fields).result(timeout)

    def submit(self, cmd: str, **fields: Any) -> Request:
        """Send one request; its :meth:`Request.result` waits for the answer (ask many
        agents first, then wait: a cluster of a hundred is set up in one round trip)."""
        request_id = next(self._ids)
        future: Future[dict[str, Any]] = Future()
        self._pending[request_id] = future
        try:
            self._write({"id": request_id, "cmd": cmd, **fields})
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        return Request(self, cmd, request_id, future)

    def deliver(self, msg: dict[str, Any]) -> None:
        """Hand a client message to the node (no answer; the node's reply comes as an event).
        The agent passes the message's encoding on as it is (its fast path)."""
        body = msg.get("body")
        self.deliver_encoded(_encode(msg).encode(), str(msg.get("src")),
                             str(body.get("type") if isinstance(body, dict) else None))

    def deliver_encoded(self, msg: bytes, src: str, msg_type: str) -> None:
        """:meth:`deliver` for a message already encoded (compact JSON, one line), from
        ``src``, of body type ``msg_type`` (what the agent's trace records)."""
        self._send(b'{"cmd":"deliver","src":%s,"type":%s,"msg":%s}\n'
                   % (_quote(src).encode(), _quote(msg_type).encode(), msg))

    def _write(self, obj: dict[str, Any]) -> None:
        # A request is awaited: it is never held back, even on a reader thread.
        self._send(json.dumps(obj, separators=(",", ":")).encode() + b"\n", hold=False)

    def _send(self, data: bytes, hold: bool = True) -> None:
        if self._closed:
            raise HarnessError(f"the agent of {self.node} is gone")
        self._outbox.append(data)
        held = getattr(_held, "links", None) if hold else None
        if held is not None:
            held[self] = None
            return
        self._flush()

    def _flush(self) -> None:
        # Many threads send at once. Whoever holds the lock writes what every thread
        # queued meanwhile, in one system call; a thread that finds the lock taken leaves
        # its data to the holder, which looks at the queue again after letting go.
        while self._outbox and self._write_lock.acquire(blocking=False):
            try:
                while self._outbox:
                    chunks = [self._outbox.popleft() for _ in range(len(self._outbox))]
                    try:
                        self._sock.sendall(b"".join(chunks))
                    except OSError as exc:
                        raise HarnessError(f"lost the agent of {self.node}: {exc}") from None
            finally:
                self._write_lock.release()

    def _read(self) -> None:
        partial: list[bytes] = []
        try:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:
                    break
                if b"\n" not in data:
                    partial.append(data)
                    continue
                if partial:
                    data = b"".join(partial) + data
                    partial = []
                *lines, rest = data.split(b"\n")
                if rest:
                    partial.append(rest)
                self._handle(lines)
        except OSError:
            pass
        finally:
            lost = {"ok": False, "error": "the control connection closed"}
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_result(lost)
            if not self._closed:
                self._on_event(self.node, {"event": "agent_lost"})

    def _handle(self, lines: list[bytes]) -> None:
        """What one read brought; messages sent meanwhile leave together at the end."""
        held: dict[AgentLink, None] = {}
        _held.links = held
        try:
            for line in lines:
                try:
                    message = _decode(line.decode())
                except ValueError:  # UnicodeDecodeError is one
                    continue
                request_id = message.get("id")
                if request_id is not None and "ok" in message:
                    future = self._pending.get(request_id)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                try:
                    self._on_event(self.node, message)
                except Exception:
                    # A handler's bug must not stop this link's reader (nothing else reads
                    # what the agent says): it is logged, and the next message handled.
                    log.exception("handling %s from the agent of %s failed",
                                  message.get("event"), self.node)
        finally:
            _held.links = None
            for link in held:
                # A link lost meanwhile is reported by its own reader (agent_lost), which
                # fails what waits on it.
                with contextlib.suppress(HarnessError):
                    link._flush()

    @property
    def closed(self) -> bool:
        """Closed by the harness (e.g. its container was killed on purpose)."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        with self._write_lock:
            self._outbox.clear()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._reader.join(timeout=5)


class Request:
    """A request sent to an agent, its answer to come."""

    def __init__(self, link: AgentLink, cmd: str, request_id: int,
                 future: Future[dict[str, Any]]) -> None:
        self.link = link
        self.cmd = cmd
        self._id = request_id
        self._future = future

    def result(self, timeout: float = 10.0) -> dict[str, Any]:
        """The answer; :class:`HarnessError` if the agent refused or was silent too long."""
        link = self.link
        if threading.current_thread() is link._reader:
            # Only this thread reads the answer: waiting here could never end.
            link._pending.pop(self._id, None)
            raise HarnessError(f"cannot wait for the agent of {link.node} on its own reader "
                               f"thread (from an event handler); ask from another thread")
        try:
            reply = self._future.result(timeout)
        except FutureTimeout:
            raise HarnessError(
                f"the agent of {link.node} did not answer {self.cmd!r} within {timeout:g}s"
            ) from None
        finally:
            link._pending.pop(self._id, None)
        if not reply.get("ok"):
            raise HarnessError(f"the agent of {link.node} refused {self.cmd!r}: "
                               f"{reply.get('error')}")
        return reply
