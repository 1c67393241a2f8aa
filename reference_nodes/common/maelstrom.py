"""A small runtime for nodes that speak the Maelstrom protocol.

Every reference node (gossip, PBFT, vector clocks, transactions) is an independent
executable: one JSON message per line on stdin and stdout, logs on stderr, no sockets. This
module is the part they share, so each protocol module is only its protocol. Standard
library only (Python 3.9 or later), and it never imports the harness: nodes run in images
with nothing but python3.

A node in five lines::

    node = Node()

    @node.handler("echo")
    def echo(msg: Message) -> dict:
        return {"type": "echo_ok", "echo": msg.body["echo"]}

    raise SystemExit(node.run())

What the runtime does so that protocols need not:

* ``init`` is answered here. It stores ``node_id``, ``node_ids`` and the optional ``dchaos``
  object (``dchaos.params`` becomes :attr:`Node.params`), runs the ``on_init`` callbacks —
  where a node reads its parameters and starts its timers — and replies ``init_ok``. A
  callback that raises :class:`RPCError` turns ``init`` into that error, so a bad parameter
  is reported to the harness instead of crashing the node.
* ``init_ok`` lists the pytest-dchaos extension messages the node answers (``members``,
  ``dchaos_state``, ``dchaos_byzantine``), as ``"dchaos": {"extensions": [...]}``, once a
  node has declared them with :meth:`Node.declare_extensions`: the harness sends a node
  none it did not list. A node that declares none answers a plain Maelstrom ``init_ok``.
* Messages are dispatched on ``body.type``. A handler may be a function or a coroutine
  function; if it returns a dict, that dict is the reply. Raising :class:`RPCError`
  answers with that error; any other exception is logged with its traceback and answered
  with error 13 (crash) — the node keeps running.
* Replies (bodies with ``in_reply_to``) settle the matching :meth:`Node.request` /
  :meth:`Node.rpc`; a late reply nobody waits for goes to the handler of its type, if there
  is one, and is otherwise dropped. A reply is never answered with an error: that is how
  two nodes end up in an error ping-pong.
* An unknown type gets error 10 (not supported). A malformed message — not JSON, not an
  object, missing or ill-typed ``src``/``dest``/``body``/``type``/``msg_id`` — is logged to
  stderr and, when it has a usable ``msg_id``, answered with error 12. Before ``init`` every
  request but ``init`` gets error 11 (temporarily unavailable).
* stdout carries nothing but messages, one per line, flushed as soon as the callback that
  wrote them returns (so a burst of sends costs one write). ``print`` is pointed at stderr
  while the node runs, so a stray debug print cannot corrupt the stream.
* End of file on stdin stops the node cleanly: timers and tasks are cancelled and
  :meth:`Node.run` returns 0.

Parameters the runtime itself reads from ``dchaos.params``: ``log_level`` (``"DEBUG"``,
``"INFO"`` (default), ``"WARNING"``, ``"ERROR"``). The ``DCHAOS_LOG_LEVEL`` environment
variable sets the level before ``init`` arrives.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import stat
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "ErrorCode",
    "Message",
    "Node",
    "Params",
    "RPCError",
    "RPCTimeout",
    "Timer",
    "optional",
    "require",
]

log = logging.getLogger("reference_nodes.runtime")

JSON = dict[str, Any]
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# json.dumps and json.loads without their per-call set-up: every message passes here.
_encode = json.JSONEncoder(separators=(",", ":")).encode
_decode = json.JSONDecoder().decode
# A string, so the alias is never evaluated: nodes also run on Debian's older python3.
Handler = Callable[["Message"], "JSON | Awaitable[JSON | None] | None"]
InitCallback = Callable[[], None]


class ErrorCode:
    """Maelstrom's error codes (doc/protocol.md). Definite ones mean "certainly not done"."""

    TIMEOUT = 0
    NODE_NOT_FOUND = 1
    NOT_SUPPORTED = 10
    TEMPORARILY_UNAVAILABLE = 11
    MALFORMED_REQUEST = 12
    CRASH = 13
    ABORT = 14
    KEY_DOES_NOT_EXIST = 20
    KEY_ALREADY_EXISTS = 21
    PRECONDITION_FAILED = 22
    TXN_CONFLICT = 30


class RPCError(Exception):
    """An error a node answers with, or one that came back from an RPC.

    Raise it from a handler to answer ``{"type": "error", "code": code, "text": text}``.
    """

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text

    def to_body(self) -> JSON:
        return {"type": "error", "code": self.code, "text": self.text}

    @classmethod
    def from_body(cls, body: JSON) -> RPCError:
        code = body.get("code")
        return cls(code if isinstance(code, int) else ErrorCode.CRASH, str(body.get("text", "")))

    @classmethod
    def malformed(cls, text: str) -> RPCError:
        return cls(ErrorCode.MALFORMED_REQUEST, text)


class RPCTimeout(RPCError):
    """No reply came within the timeout (Maelstrom code 0: the outcome is unknown)."""

    def __init__(self, dest: str, msg_type: str, timeout: float) -> None:
        super().__init__(ErrorCode.TIMEOUT, f"no reply from {dest} to {msg_type} in {timeout:.3f}s")


@dataclass(frozen=True)
class Message:
    """One envelope as it came off the wire: ``{"src", "dest", "body"}``."""

    src: str
    dest: str
    body: JSON

    @property
    def type(self) -> str:
        kind: str = self.body["type"]
        return kind

    @property
    def msg_id(self) -> int | None:
        return self.body.get("msg_id")

    @property
    def in_reply_to(self) -> int | None:
        return self.body.get("in_reply_to")


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int; no protocol means that.
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
}


def _matches(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is int and _is_int(value):
            return True
        if k is float and (_is_int(value) or isinstance(value, float)):
            return True
        if k not in (int, float) and isinstance(value, k):
            return True
    return False


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KINDS.get(k, k.__name__) for k in kinds)


def require(body: JSON, field: str, kind: type | tuple[type, ...]) -> Any:
    """``body[field]``, checked against ``kind``; a missing or ill-typed field is error 12.

    ``int`` rejects booleans and ``float`` accepts integers, as a JSON reader expects.
    """
    if field not in body:
        raise RPCError.malformed(f"{body.get('type', 'message')}: missing field {field!r}")
    value = body[field]
    if not _matches(value, kind):
        raise RPCError.malformed(
            f"{body.get('type', 'message')}: field {field!r} must be {_kind_name(kind)}, "
            f"got {value!r:.80}"
        )
    return value


def optional(body: JSON, field: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """Like :func:`require`, but an absent (or null) field gives ``default``."""
    if body.get(field) is None:
        return default
    return require(body, field, kind)


class Params:
    """Implementation parameters from ``init.dchaos.params``, read with their defaults.

    Each accessor validates and raises error 12 naming the parameter, so a typo in a
    scenario's ``cluster.params`` is a clear ``init`` failure. Durations are given in
    milliseconds (names end in ``_ms``) and returned in seconds, the unit of the event loop.
    :meth:`unused` lists parameters nobody asked for — usually misspellings.
    """

    def __init__(self, raw: JSON | None = None) -> None:
        self.raw: JSON = dict(raw or {})
        self._read: set[str] = set()

    def _get(self, name: str) -> Any:
        self._read.add(name)
        return self.raw.get(name)

    def invalid(self, name: str, expected: str) -> RPCError:
        """The error for parameter ``name`` not being ``expected`` (for checks of your own)."""
        return RPCError.malformed(
            f"init: dchaos.params.{name} must be {expected}, got {self.raw.get(name)!r:.80}"
        )

    def duration(self, name: str, default_ms: float, *, minimum_ms: float = 0.0) -> float:
        """A duration in milliseconds, returned in seconds."""
        value = self._get(name)
        if value is None:
            return default_ms / 1000.0
        if not _matches(value, float) or value < minimum_ms:
            raise self.invalid(name, f"a number of milliseconds >= {minimum_ms:g}")
        return float(value) / 1000.0

    def integer(self, name: str, default: int, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        value = self._get(name)
        if value is None:
            return default
        if not _is_int(value) or (minimum is not None and value < minimum) or (
                maximum is not None and value > maximum):
            bounds = f" in [{minimum if minimum is not None else '-inf'}, " \
                     f"{maximum if maximum is not None else 'inf'}]"
            raise self.invalid(name, "an integer" + bounds)
        number: int = value
        return number

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self._get(name)
        if value is None:
            return default
        if not _matches(value, float) or (minimum is not None and value < minimum):
            bound = f" >= {minimum:g}" if minimum is not None else ""
            raise self.invalid(name, "a number" + bound)
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.invalid(name, "true or false")
        return value

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        allowed = tuple(choices)
        value = self._get(name)
        if value is None:
            return default
        if value not in allowed:
            raise self.invalid(name, "one of " + ", ".join(repr(c) for c in allowed))
        choice: str = value
        return choice

    def unused(self) -> list[str]:
        """Parameters that were given but never read."""
        return sorted(set(self.raw) - self._read)


class Timer:
    """A repeating timer on the node's event loop (see :meth:`Node.every`).

    The next firing is scheduled before the callback runs, so a slow callback does not
    stretch the period, and each period is jittered so that nodes started together do not
    fire in lockstep.
    """

    def __init__(self, node: Node, interval: float | Callable[[], float],
                 callback: Callable[[], Any], *, jitter: float, first_delay: float | None) -> None:
        self._node = node
        self._interval = interval
        self._callback = callback
        self._jitter = jitter
        self._handle: asyncio.TimerHandle | None = None
        self.cancelled = False
        delay = first_delay if first_delay is not None else random.uniform(0, self.interval())
        self._handle = node.loop.call_later(delay, self._fire)

    def interval(self) -> float:
        return self._interval() if callable(self._interval) else self._interval

    def _fire(self) -> None:
        if self.cancelled:
            return
        period = self.interval()
        if self._jitter:
            period *= random.uniform(1 - self._jitter, 1 + self._jitter)
        self._handle = self._node.loop.call_later(max(period, 0.001), self._fire)
        self._node.call(self._callback)

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()


class _NodeLogFilter(logging.Filter):
    """Puts the node id on every log record, so interleaved logs stay readable."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self._node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self._node.node_id or "-"
        return True


def _excerpt(data: Any, limit: int = 200) -> str:
    text = data if isinstance(data, str) else repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


def _message_stdout() -> IO[bytes]:
    """A buffered writer of our own on stdout, so that the lines written while one callback
    runs leave in one write. ``sys.stdout.buffer`` writes each line at once when Python runs
    unbuffered (``PYTHONUNBUFFERED``, ``python -u``, as in the Docker images): a system call
    per message, and a wake-up of the agent for each."""
    sys.stdout.flush()
    try:
        return open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a captured stdout)
        return sys.stdout.buffer


class Node:
    """One node process: the stdin/stdout message loop, dispatch, RPCs and timers.

    Attributes filled by ``init``: :attr:`node_id`, :attr:`node_ids`, :attr:`dchaos` (the
    raw object, ``{}`` when absent) and :attr:`params`.
    """

    def __init__(self, *, stdin_fd: int = 0, stdout: IO[bytes] | None = None) -> None:
        self.node_id: str | None = None
        self.node_ids: list[str] = []
        self.dchaos: JSON = {}
        self.params = Params()
        self.log = logging.getLogger("reference_nodes.node")
        self._stdin_fd = stdin_fd
        self._stdin_watched = False
        self._stdin_partial: list[bytes] = []  # the start of a line still being read
        self._stdout = stdout
        self._handlers: dict[str, Handler] = {}
        self.extensions: tuple[str, ...] = ()
        self._init_callbacks: list[InitCallback] = []
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._next_msg_id = 0
        self._timers: list[Timer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._flush_pending = False

    # -- registration -------------------------------------------------------------------

    def handler(self, msg_type: str) -> Callable[[Handler], Handler]:
        """Decorator: handle messages whose ``body.type`` is ``msg_type``."""

        def register(fn: Handler) -> Handler:
            self.on(msg_type, fn)
            return fn

        return register

    def on(self, msg_type: str, fn: Handler) -> None:
        """Handle messages of ``msg_type`` with ``fn`` (replacing any earlier handler)."""
        if msg_type == "init":
            raise ValueError("init is handled by the runtime; use on_init() to hook it")
        self._handlers[msg_type] = fn

    def on_many(self, handlers: Mapping[str, Handler]) -> None:
        """:meth:`on` for each ``type: handler`` of a node's handler table."""
        for msg_type, fn in handlers.items():
            self.on(msg_type, fn)

    def declare_extensions(self, *names: str) -> None:
        """List extension messages (``members``, ``dchaos_state``, ``dchaos_byzantine``)
        in ``init_ok``, so the harness knows it may send them. Each needs its handler
        registered first: claiming a message the node would answer with error 10 is the
        mistake the opt-in exists to prevent."""
        missing = [n for n in names if n not in self._handlers]
        if missing:
            raise ValueError(f"no handler for extension(s) {', '.join(missing)}: register "
                             "the handler before declaring the extension")
        self.extensions = tuple(dict.fromkeys((*self.extensions, *names)))

    def on_init(self, callback: InitCallback) -> InitCallback:
        """Run ``callback()`` once ``init`` is stored, before ``init_ok`` is sent.

        The place to read :attr:`params` and start timers. Raise :class:`RPCError` to
        refuse ``init`` (the node then stays uninitialised).
        """
        self._init_callbacks.append(callback)
        return callback

    # -- running --------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the node is not running")
        return self._loop

    def now(self) -> float:
        """Monotonic time in seconds (the event loop's clock)."""
        return self.loop.time()

    def run(self) -> int:
        """Run until stdin ends; returns the process exit code (0 on a clean end)."""
        self._configure_logging()
        if self._stdout is None:
            self._stdout = _message_stdout()
            # Keep the protocol stream clean: anything printed goes to the log instead.
            sys.stdout = sys.stderr
        try:
            return asyncio.run(self.main())
        except KeyboardInterrupt:
            return 130

    async def main(self) -> int:
        """The node's life as a coroutine: read stdin until end of file, then clean up."""
        if self._stdout is None:
            self._stdout = _message_stdout()
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if not self._watch_stdin():
            reader = threading.Thread(target=self._read_stdin, name="stdin", daemon=True)
            reader.start()
        await self._stopped.wait()
        if self._stdin_watched:
            self._loop.remove_reader(self._stdin_fd)
        for timer in self._timers:
            timer.cancel()
        for future in self._pending.values():
            future.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._flush()
        return 0

    def stop(self) -> None:
        """Stop the node as if stdin had ended."""
        if self._stopped is not None:
            self._stopped.set()

    def _configure_logging(self) -> None:
        level = os.environ.get("DCHAOS_LOG_LEVEL", "INFO").upper()
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_NodeLogFilter(self))
        handler.setFormatter(logging.Formatter(
            "%(asctime)s.%(msecs)03d %(node)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level if level in _LEVELS else "INFO")

    def _watch_stdin(self) -> bool:
        """Read stdin from the event loop when it is a pipe (as under the agent): no thread
        to hand each read over. False where it cannot (a file, a terminal)."""
        try:
            if not stat.S_ISFIFO(os.fstat(self._stdin_fd).st_mode):
                return False
            os.set_blocking(self._stdin_fd, False)
            self.loop.add_reader(self._stdin_fd, self._stdin_ready)
        except (OSError, ValueError, NotImplementedError):
            return False
        self._stdin_watched = True
        return True

    def _stdin_ready(self) -> None:
        try:
            chunk = os.read(self._stdin_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._on_lines(self._lines_of(chunk))
            return
        self.loop.remove_reader(self._stdin_fd)
        self._stdin_watched = False
        self._on_lines(self._rest_of_stdin())
        self.stop()

    def _lines_of(self, chunk: bytes) -> list[bytes]:
        """The lines ``chunk`` completes (a line may come in several reads)."""
        if b"\n" not in chunk:
            self._stdin_partial.append(chunk)
            return []
        *lines, rest = (b"".join(self._stdin_partial) + chunk).split(b"\n")
        self._stdin_partial = [rest] if rest else []
        return lines

    def _rest_of_stdin(self) -> list[bytes]:
        """At end of file: a last line without its newline, if any."""
        rest, self._stdin_partial = b"".join(self._stdin_partial), []
        return [rest] if rest else []

    def _read_stdin(self) -> None:
        # A thread with os.read works for pipes, files and terminals alike, and — unlike a
        # daemon thread blocked in sys.stdin — never holds a buffer lock at interpreter exit.
        loop = self.loop
        while True:
            try:
                chunk = os.read(self._stdin_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            lines = self._lines_of(chunk)
            if lines and not self._post(loop, self._on_lines, lines):
                return
        self._post(loop, self._on_lines, self._rest_of_stdin())
        self._post(loop, self.stop)

    @staticmethod
    def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> bool:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the node is shutting down
            return False
        return True

    # -- inbound --------------------------------------------------------------------------

    def _on_lines(self, lines: list[bytes]) -> None:
        for raw in lines:
            if raw.strip():
                self._on_line(raw)

    def _on_line(self, raw: bytes) -> None:
        try:
            data = _decode(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            self.log.warning("malformed input, not JSON (%s): %s", exc, _excerpt(raw))
            return
        problem = self._envelope_problem(data)
        if problem:
            self.log.warning("malformed message, %s: %s", problem, _excerpt(raw))
            body = data.get("body") if isinstance(data, dict) else None
            src = data.get("src") if isinstance(data, dict) else None
            if (isinstance(body, dict) and _is_int(body.get("msg_id")) and isinstance(src, str)
                    and body.get("in_reply_to") is None):
                dest = data.get("dest") if isinstance(data.get("dest"), str) else ""
                self._reply_to(src, body["msg_id"], RPCError.malformed(problem).to_body(), dest)
            return
        self._dispatch(Message(data["src"], data["dest"], data["body"]))

    @staticmethod
    def _envelope_problem(data: Any) -> str | None:
        if not isinstance(data, dict):
            return "not a JSON object"
        for field in ("src", "dest"):
            if not isinstance(data.get(field), str):
                return f"{field!r} must be a string"
        body = data.get("body")
        if not isinstance(body, dict):
            return "'body' must be an object"
        if not isinstance(body.get("type"), str):
            return "body.type must be a string"
        for field in ("msg_id", "in_reply_to"):
            if field in body and body[field] is not None and not _is_int(body[field]):
                return f"body.{field} must be an integer"
        return None

    def _dispatch(self, msg: Message) -> None:
        body = msg.body
        reply_to = body.get("in_reply_to")
        if reply_to is not None:
            future = self._pending.pop(reply_to, None)
            if future is not None:
                if not future.done():
                    if body["type"] == "error":
                        future.set_exception(RPCError.from_body(body))
                    else:
                        future.set_result(msg)
                return
            if body["type"] not in self._handlers:
                self.log.debug("dropping unexpected reply %s", _excerpt(body))
                return
        if body["type"] == "init":
            self._handle_init(msg)
            return
        if self.node_id is None:
            self._answer_error(msg, RPCError(ErrorCode.TEMPORARILY_UNAVAILABLE,
                                             "node not initialised yet: send init first"))
            return
        fn = self._handlers.get(body["type"])
        if fn is None:
            if body["type"] == "error":
                self.log.warning("error from %s: %s", msg.src, _excerpt(body))
                return
            self._answer_error(msg, RPCError(ErrorCode.NOT_SUPPORTED,
                                             f"message type {body['type']!r} is not supported"))
            return
        self._run_handler(fn, msg)

    def _run_handler(self, fn: Handler, msg: Message) -> None:
        try:
            result = fn(msg)
        except RPCError as exc:
            self._answer_error(msg, exc)
            return
        except Exception as exc:
            self._crashed(msg, exc)
            return
        if result is None:
            return
        if inspect.isawaitable(result):
            self.spawn(self._finish_handler(result, msg))
        else:
            self.reply(msg, result)

    async def _finish_handler(self, pending: Awaitable[JSON | None], msg: Message) -> None:
        try:
            result = await pending
        except RPCError as exc:
            self._answer_error(msg, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._crashed(msg, exc)
        else:
            if result is not None:
                self.reply(msg, result)

    def _crashed(self, msg: Message, exc: BaseException) -> None:
        self.log.error("handler for %s from %s failed", msg.type, msg.src, exc_info=exc)
        self._answer_error(msg, RPCError(ErrorCode.CRASH, f"{type(exc).__name__}: {exc}"))

    def _answer_error(self, msg: Message, error: RPCError) -> None:
        if error.code == ErrorCode.MALFORMED_REQUEST:
            self.log.warning("malformed request from %s: %s", msg.src, error.text)
        if msg.msg_id is None or msg.in_reply_to is not None:
            return  # nobody to answer, or a reply: never answer a reply with an error
        self.reply(msg, error.to_body())

    def _handle_init(self, msg: Message) -> None:
        body = msg.body
        try:
            node_id = require(body, "node_id", str)
            node_ids = require(body, "node_ids", list)
            if not all(isinstance(n, str) for n in node_ids):
                raise RPCError.malformed("init: node_ids must be a list of strings")
            if node_id not in node_ids:
                raise RPCError.malformed(f"init: node_ids {node_ids!r} must include {node_id!r}")
            dchaos = optional(body, "dchaos", dict, {})
            params = optional(dchaos, "params", dict, {})
        except RPCError as exc:
            self._answer_error(msg, exc)
            return
        if self.node_id is not None:
            if node_id != self.node_id:
                self._answer_error(msg, RPCError(
                    ErrorCode.PRECONDITION_FAILED,
                    f"already initialised as {self.node_id}; restart the process to change it"))
                return
            self.log.warning("init repeated; answering init_ok again")
            self.reply(msg, self._init_ok())
            return
        self.node_ids = list(node_ids)
        self.dchaos = dchaos
        self.params = Params(params)
        try:
            level = self.params.choice("log_level", "", _LEVELS)
            if level:
                logging.getLogger().setLevel(level)
            self.node_id = node_id
            for callback in self._init_callbacks:
                callback()
        except RPCError as exc:
            self.node_id = None
            self._cancel_timers()
            self._answer_error(msg, exc)
            return
        except Exception as exc:
            self.node_id = None
            self._cancel_timers()
            self._crashed(msg, exc)
            return
        unused = self.params.unused()
        if unused:
            self.log.warning("ignoring unknown parameter(s): %s", ", ".join(unused))
        self.log.info("initialised as %s of %d node(s)", node_id, len(node_ids))
        self.reply(msg, self._init_ok())

    def _init_ok(self) -> JSON:
        if not self.extensions:
            return {"type": "init_ok"}
        return {"type": "init_ok", "dchaos": {"extensions": list(self.extensions)}}

    # -- outbound -------------------------------------------------------------------------

    def send(self, dest: str, body: JSON) -> None:
        """Send ``body`` to ``dest`` (fire and forget)."""
        self._write({"src": self.node_id, "dest": dest, "body": body})

    def send_all(self, dests: Iterable[str], body: JSON) -> None:
        """:meth:`send` ``body`` to each of ``dests``, encoding it once."""
        dests = list(dests)
        if not dests:
            return
        encoded = _encode(body)
        src = _encode(self.node_id)
        for dest in dests:
            self._write_line(f'{{"src":{src},"dest":{_encode(dest)},"body":{encoded}}}\n'
                             .encode())

    def relay(self, dest: str, message: Message) -> None:
        """Pass a client's ``message`` on to node ``dest`` unchanged, the client still its
        ``src``, so ``dest`` answers the client itself (Maelstrom allows this; its Raft
        demo proxies to the leader so). Only a client's message may be relayed."""
        self._write({"src": message.src, "dest": dest, "body": message.body})

    def reply(self, request: Message, body: JSON) -> None:
        """Answer ``request``; does nothing if the request carried no ``msg_id``."""
        if request.msg_id is None:
            return
        self._reply_to(request.src, request.msg_id, body, request.dest)

    def _reply_to(self, dest: str, msg_id: int, body: JSON, me: str) -> None:
        out = dict(body)
        out["in_reply_to"] = msg_id
        out.setdefault("msg_id", self._new_msg_id())
        self._write({"src": self.node_id or me, "dest": dest, "body": out})

    def request(self, dest: str, body: JSON, timeout: float) -> asyncio.Future[Message]:
        """Send ``body`` with a fresh ``msg_id``; the future settles with the reply message.

        It fails with :class:`RPCError` if the reply is an error and with
        :class:`RPCTimeout` after ``timeout`` seconds. Nobody has to await it: a future
        that is dropped does not warn. Use this to race several requests; use :meth:`rpc`
        for one.
        """
        msg_id = self._new_msg_id()
        out = dict(body)
        out["msg_id"] = msg_id
        future: asyncio.Future[Message] = self.loop.create_future()
        future.add_done_callback(_retrieve)
        self._pending[msg_id] = future
        timer = self.loop.call_later(timeout, self._expire, msg_id, dest, body["type"], timeout)
        future.add_done_callback(lambda _f: timer.cancel())
        self._write({"src": self.node_id, "dest": dest, "body": out})
        return future

    async def rpc(self, dest: str, body: JSON, timeout: float) -> Message:
        """Send ``body`` and wait for the reply (see :meth:`request` for the failures)."""
        return await self.request(dest, body, timeout)

    def _expire(self, msg_id: int, dest: str, msg_type: str, timeout: float) -> None:
        future = self._pending.pop(msg_id, None)
        if future is not None and not future.done():
            future.set_exception(RPCTimeout(dest, msg_type, timeout))

    def _new_msg_id(self) -> int:
        self._next_msg_id += 1
        return self._next_msg_id

    def _write(self, message: JSON) -> None:
        # Lines written while one callback runs (a batch to every peer, say) leave in one
        # flush when it returns: one write for the agent to read instead of dozens.
        self._write_line(_encode(message).encode() + b"\n")

    def _write_line(self, line: bytes) -> None:
        out = self._stdout
        if out is None:
            raise RuntimeError("the node is not running")
        try:
            out.write(line)
        except (BrokenPipeError, ValueError):
            self._stdout_closed()
            return
        if self._loop is None or self._loop.is_closed():
            self._flush()
        elif not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        try:
            if self._stdout is not None:
                self._stdout.flush()
        except (BrokenPipeError, ValueError):
            self._stdout_closed()

    def _stdout_closed(self) -> None:
        # Whoever reads our stdout is gone; nobody can hear us, so stop.
        if self._stopped is not None and not self._stopped.is_set():
            self.log.warning("stdout closed; stopping")
        self.stop()

    # -- timers and tasks -----------------------------------------------------------------

    def every(self, interval: float | Callable[[], float], callback: Callable[[], Any], *,
              jitter: float = 0.05, first_delay: float | None = None) -> Timer:
        """Call ``callback`` every ``interval`` seconds until the node stops.

        ``interval`` may be a function, read again before each period (for intervals that
        adapt). The first call comes after ``first_delay``, by default a random fraction of
        the interval. ``callback`` may be a coroutine function: each call then runs as its
        own task, so a slow one does not delay the next.
        """
        timer = Timer(self, interval, callback, jitter=jitter, first_delay=first_delay)
        self._timers.append(timer)
        return timer

    def after(self, delay: float, callback: Callable[[], Any]) -> asyncio.TimerHandle:
        """Call ``callback`` once, ``delay`` seconds from now (cancel the handle to skip)."""
        return self.loop.call_later(delay, self.call, callback)

    def call(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` now, logging (not raising) its failure; coroutines are spawned."""
        try:
            result = callback()
        except Exception:
            self.log.exception("callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            self.spawn(result)

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``awaitable`` as a task owned by the node: kept alive, logged if it fails,
        cancelled when the node stops."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task failed", exc_info=task.exception())

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark the outcome as seen so an abandoned request never warns "exception never retrieved".
    if not future.cancelled():
        future.exception()
