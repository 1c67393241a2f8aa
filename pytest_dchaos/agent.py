#!/usr/bin/env python3
"""The dchaos agent: runs one node process and is its network.

Standard library only: this file is copied as it is into images that have nothing but
python3, so it must never import the rest of pytest_dchaos.

What it does for its node:

* starts the node (its own process group, stderr to ``stderr.log``, cwd the node's folder,
  which survives restarts) and writes every message for it to its stdin;
* reads the node's stdout, one JSON message per line; a message for another node goes out
  on a TCP connection to that link's proxy (``n1->n2`` has its own Toxiproxy proxy, so the
  fault layer can cut or slow one direction), a message for a client goes back to the
  harness over the control connection;
* accepts connections from the proxies of the links into this node and delivers what
  arrives;
* records every message it carries in ``trace.jsonl`` (time, event, id, src, dest, type,
  size, and the body's own ``msg_id`` as ``mi``) — the source of msgs-per-op, of every
  message diagram and of the happens-before relation the harness computes;
* applies message-level faults a TCP proxy cannot make, by seeded rules the harness sets:
  loss, duplication and reordering of single messages, and ByzzFuzz-style small-scope
  mutations — one integer field of a body moved by one (a view, a sequence number), or an
  earlier message to the same destination sent again (``mutate`` and ``replay`` events in
  the trace);
* kills, pauses, resumes and restarts the node when the harness asks.

Control protocol (JSON lines on the control connection). Requests carry ``id`` and get
``{"id": .., "ok": true, ..}`` or ``{"id": .., "ok": false, "error": ..}``:
``configure {node_id, links: {dest: "host:port"}, seed, client_holdback?}`` (client
messages wait up to ``client_holdback`` seconds, see ``Agent._client_in``), ``start
{command, env?}``, ``signal {action: kill|pause|resume|stop}``, ``rules {rules: [..]}``,
``status``, ``flush``, ``shutdown``. ``deliver {src?, type?, msg}`` carries no id and gets
no answer (with ``src`` and ``type`` first, the agent passes ``msg`` on without parsing
it). Events the agent sends on its own: ``client {msg}`` (the node answered a client),
``exit {code, signal, expected}``,
``bad_output {line}`` (the node printed something that is not a message),
``undeliverable {msg, reason}`` (a client message found no running node).

The agent exits, killing its node, when its stdin reaches end of file: the harness holds
the other end, so not even ``kill -9`` of the harness leaves a node behind.

Given ``--workdir`` more than once, this process imports what an agent needs once and forks
one agent per folder (:func:`hatch`): a fresh interpreter costs each agent about 0.1 s of
CPU, a fork about a millisecond, which is what lets a hundred local nodes start in seconds.
Each forked agent is what a lone one is — its own process and session, stderr in its
folder's ``agent.log``, stdin the harness's pipe, a ready line (naming its ``workdir``) on
the shared stdout — and the first process only waits for them, with an ``exited`` line
(``workdir``, ``code``) for each that ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

#: JSON string quoting, as json.dumps does it for a str (the C implementation).
_q = json.encoder.encode_basestring_ascii
#: How the harness sends a client message: ``src`` and ``type`` (for the trace), then the
#: message's JSON, which goes to the node byte for byte.
_STRING = rb'("(?:[^"\\]|\\.)*")'  # a JSON string
DELIVER = re.compile(rb'\{"cmd":"deliver","src":%s,"type":%s,"msg":' % (_STRING, _STRING))
#: A message between agents: the sender's message id, the src and type it read off the
#: node's line (already checked), then the line as the node printed it.
FRAME = re.compile(rb'\{"id":%s,"s":%s,"t":%s,"m":' % (_STRING, _STRING, _STRING))
#: json.loads without its per-call set-up: every message a node prints passes here.
_decode = json.JSONDecoder().decode
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _unquote(quoted: bytes) -> str:
    """A JSON string matched by ``_STRING``: most need no unescaping."""
    return _decode(quoted.decode()) if b"\\" in quoted else quoted[1:-1].decode()

MAX_LINE = 64 * 1024 * 1024
_TASKS: set[asyncio.Task[Any]] = set()
STDERR_TAIL_LINES = 20


class TooLong(Exception):
    """A line longer than :data:`MAX_LINE` (its start is dropped)."""


async def line_batches(reader: asyncio.StreamReader,
                       cut_short: Callable[[bytes], None] | None = None
                       ) -> AsyncIterator[list[bytes]]:
    """The complete lines of ``reader`` (newline removed), as many as one read brought.

    Under load a read brings dozens of lines: taking them together costs one wake-up,
    where ``readline`` takes one per line. A last line the stream ended before its newline
    goes to ``cut_short`` (by default it is dropped, as a frame cut short): whoever wrote
    it may have died in the middle of it. A line over :data:`MAX_LINE` raises
    :class:`TooLong` (the reader may go on after it).
    """
    partial: list[bytes] = []
    held = 0
    while True:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        if b"\n" not in chunk:
            partial.append(chunk)
            held += len(chunk)
            if held > MAX_LINE:
                partial, held = [], 0
                raise TooLong
            continue
        if partial:
            chunk = b"".join(partial) + chunk
            partial, held = [], 0
        *lines, rest = chunk.split(b"\n")
        if rest:
            partial, held = [rest], len(rest)
        yield lines
    if partial and cut_short is not None:
        cut_short(b"".join(partial))


def spawn(coro: Any) -> None:
    """Run ``coro`` in the background, keeping a reference so it is not collected early."""
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


#: Body fields a mutation leaves alone: the contract's request/response correlation, which
#: the harness's clients route replies by. Changing them tests the harness, not the protocol.
UNMUTATED = frozenset({"msg_id", "in_reply_to"})
#: Earlier messages kept per destination for replay rules: recent enough to be about what
#: the protocol is doing now (an old view, the last few sequence numbers), and bounded.
REPLAY_MEMORY = 32


class Rule:
    """A message-level fault on outgoing messages: drop, duplicate, delay, reorder, mutate
    (one integer field of the body moved by one, among ``fields`` if given) or replay (an
    earlier message to the same destination sent again with this one)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.dests = set(spec["dests"]) if spec.get("dests") else None
        self.types = set(spec["types"]) if spec.get("types") else None
        self.drop = float(spec.get("drop", 0.0))
        self.duplicate = float(spec.get("duplicate", 0.0))
        self.reorder = float(spec.get("reorder", 0.0))
        self.window = float(spec.get("window", 0.05))
        self.delay = float(spec.get("delay", 0.0))
        self.mutate = float(spec.get("mutate", 0.0))
        self.fields = frozenset(spec["fields"]) if spec.get("fields") else None
        self.replay = float(spec.get("replay", 0.0))

    def matches(self, dest: str, msg_type: str) -> bool:
        return (self.dests is None or dest in self.dests) and (
            self.types is None or msg_type in self.types
        )

    def mutable(self, body: dict[str, Any]) -> list[str]:
        """The body's fields a mutation may change: top-level integers (a bool is not one),
        never the correlation ids, and only ``fields`` when the rule names some."""
        return [name for name, value in body.items()
                if type(value) is int and name not in UNMUTATED
                and (self.fields is None or name in self.fields)]


#: A message as a link sends it: the frame, the agent's message id, the type, the size of
#: the node's line.
Outgoing = tuple[bytes, str, str, int]


class Trace:
    """``trace.jsonl``: one line per message event, buffered, flushed on request and exit."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        # Events, node ids and message types repeat on every line: each is quoted once.
        self._quoted: dict[str, str] = {}

    def _name(self, text: str) -> str:
        quoted = self._quoted.get(text)
        if quoted is None:
            quoted = _q(text)
            if len(self._quoted) < 4096:  # a node inventing types cannot grow it forever
                self._quoted[text] = quoted
        return quoted

    def record(self, ev: str, mid: str, src: str, dest: str, msg_type: str, size: int,
               why: str | None = None, msg_id: Any = None, relays: str | None = None
               ) -> None:
        # One line per message carried: formatted by hand (the same JSON json.dumps would
        # give), since it is on the path of every message.
        name = self._name
        line = (f'{{"t":{time.time()!r},"ev":{name(ev)},"id":{_q(mid)},"src":{name(src)},'
                f'"dest":{name(dest)},"type":{name(msg_type)},"size":{int(size)}')
        if why:
            line += f',"why":{_q(why)}'
        if msg_id is not None:
            # The body's own msg_id, as the node wrote it: it lets the harness tie what a
            # node says it sent and received (its event log) to what really travelled.
            line += f',"mi":{msg_id}' if type(msg_id) is int else f',"mi":{_encode(msg_id)}'
        if relays is not None:
            line += f',"as":{_q(relays)}'  # a client's message, passed on unchanged
        self._file.write(line + "}\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class PeerLink:
    """The outgoing connection for one directed link, through that link's proxy."""

    def __init__(self, agent: Agent, dest: str, address: tuple[str, int]) -> None:
        self.agent, self.dest, self.address = agent, dest, address
        self.writer: asyncio.StreamWriter | None = None
        self.pending: list[tuple[bytes, str, str, int]] = []
        self.connecting = False
        #: Frames sent during this loop turn: they leave together (Agent.flush_writes).
        self.outbox: list[tuple[bytes, str, str, int]] = []

    def dial(self) -> None:
        """Open the connection now, before the node's first message needs it: a cluster
        of n nodes has n(n-1) links, and opening them all on the first messages of a run
        would add the handshakes to those messages' latency."""
        if self.writer is None and not self.connecting:
            self.connecting = True
            spawn(self._connect())

    def send(self, frame: bytes, mid: str, msg_type: str, size: int) -> None:
        if not self.outbox:
            self.agent.flush_link_later(self)
        self.outbox.append((frame, mid, msg_type, size))

    def flush(self) -> None:
        outbox, self.outbox = self.outbox, []
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(b"".join(frame for frame, _mid, _type, _size in outbox))
            return
        # While the link is cut every message redials: a refused connection on the proxy's
        # closed port costs microseconds, and the first message after a heal gets through.
        self.pending.extend(outbox)
        if not self.connecting:
            self.connecting = True
            spawn(self._connect())

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.open_connection(*self.address)
        except OSError:
            for _frame, mid, msg_type, size in self.pending:
                self.agent.trace.record("drop", mid, self.agent.node_id, self.dest, msg_type,
                                        size, "link down")
            self.pending.clear()
            return
        finally:
            self.connecting = False
        self.writer = writer
        for frame, _mid, _type, _size in self.pending:
            writer.write(frame)
        self.pending.clear()
        spawn(self._watch(reader, writer))

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The proxy closes the connection when the link is cut: notice it at once, so the
        next message redials instead of vanishing into a dead socket."""
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
        if self.writer is writer:
            self.writer = None
        writer.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Agent:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.node_id = "?"
        self.links: dict[str, PeerLink] = {}
        self.trace = Trace(os.path.join(workdir, "trace.jsonl"))
        self.rules: list[Rule] = []
        self.rng = random.Random(0)
        #: Per destination, the last messages replay rules matched (what they may resend).
        self.sent: dict[str, deque[Outgoing]] = {}
        #: Seconds: each client message waits a random time up to this before delivery.
        self.client_holdback = 0.0
        self.holdback_rng = random.Random(0)
        self.proc: asyncio.subprocess.Process | None = None
        self.paused = False
        self.expected_exit = False
        self.stopping = False
        self.seq = 0
        # Message ids are "<node>:<epoch>.<seq>": a restarted agent (a restarted container)
        # never reuses an id of its previous life in the same trace.
        self.epoch = secrets.token_hex(3)
        self.control: asyncio.StreamWriter | None = None
        # Writes to the control connection and to the node's stdin made while one event is
        # handled leave together when it is done: one system call for a burst of messages.
        self._control_out: list[bytes] = []
        self._node_out: list[bytes] = []
        self._links_out: list[PeerLink] = []
        self._flush_scheduled = False
        self.bad_output_reported = 0
        # Whoever wrote to the node from outside the cluster (clients, services): the node
        # may pass their messages on to a peer unchanged, as Maelstrom allows, the writer
        # still the src. A node id is never here, so no node can speak as another.
        self.clients: set[str] = set()
        self.done = asyncio.Event()
        self.stderr_path = os.path.join(workdir, "stderr.log")

    # -- the node process -------------------------------------------------------------

    async def start_node(self, command: list[str], env: dict[str, str] | None) -> int:
        if self.running:
            raise RuntimeError("the node is already running")
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.stderr_path, "ab") as log:
            log.write(f"--- dchaos: node {self.node_id} started at {time.time():.3f} ---\n"
                      .encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=self.workdir,
                env=full_env,
                start_new_session=True,
                limit=MAX_LINE,
            )
        self.paused = False
        self.expected_exit = False
        self.stopping = False
        spawn(self._read_node(self.proc))
        return self.proc.pid

    @property
    def running(self) -> bool:
        """The node can take messages: started, not exited, not being killed."""
        return (self.proc is not None and self.proc.returncode is None
                and not self.stopping)

    def signal_node(self, action: str) -> None:
        # Not `running`: a node being stopped takes no messages, but can still be killed.
        if self.proc is None or self.proc.returncode is not None:
            raise RuntimeError("the node is not running")
        assert self.proc is not None
        group = self.proc.pid
        if action == "kill":
            self.expected_exit = self.stopping = True
            self._killpg(group, signal.SIGKILL)
        elif action == "stop":
            self.expected_exit = self.stopping = True
            self._killpg(group, signal.SIGTERM)
            if self.paused:
                self._killpg(group, signal.SIGCONT)
        elif action == "pause":
            self._killpg(group, signal.SIGSTOP)
            self.paused = True
        elif action == "resume":
            self._killpg(group, signal.SIGCONT)
            self.paused = False
        else:
            raise ValueError(f"unknown action {action!r}")

    @staticmethod
    def _killpg(group: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)

    async def _read_node(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                async for lines in line_batches(proc.stdout, self._last_words):
                    for line in lines:
                        self._from_node(line)
            except TooLong:
                self._bad_output(b"<a line longer than 64 MiB>")
                continue
            break
        code = await proc.wait()
        if proc is not self.proc:
            return
        self.paused = False
        self.send_event({
            "event": "exit",
            "pid": proc.pid,
            "code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "expected": self.expected_exit,
            "stderr_tail": self._stderr_tail(),
        })

    def _last_words(self, line: bytes) -> None:
        """What the node wrote after its last newline, when its output ended: a message
        printed without one, or one cut short because the process died writing it (a
        restart's SIGKILL lands mid-write now and then). The first is carried; the second
        is not the node breaking the contract (its death, if unasked for, is reported as a
        crash), so it is only traced as lost."""
        try:
            _decode(line.decode())
        except ValueError:
            self.trace.record("drop", "", self.node_id, "", "", len(line),
                              "its output ended in the middle of a line")
            return
        self._from_node(line)

    def _stderr_tail(self) -> list[str]:
        try:
            with open(self.stderr_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 8192))
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return lines[-STDERR_TAIL_LINES:]

    # -- messages ---------------------------------------------------------------------

    def _from_node(self, line: bytes) -> None:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            return
        try:
            msg = _decode(line.decode())
            dest, body = msg["dest"], msg["body"]
            msg_type = body["type"]
            if not isinstance(dest, str) or not isinstance(msg_type, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._bad_output(line)
            return
        src, claimed = self.node_id, msg.get("src")
        relays = claimed != src and dest in self.links and claimed in self.clients
        if claimed != src and not relays:
            # Channels are authenticated, as BFT protocols assume: a node cannot speak as
            # another. The message is dropped, and the node's contract breach reported.
            self.trace.record("drop", "", str(claimed), dest, msg_type, len(line),
                              f"src is not {src}")
            self._bad_output(line, f"a message whose src is {claimed!r}, not {src!r}")
            return
        msg_id = body.get("msg_id") if isinstance(body, dict) else None
        if dest in self.links:
            self.seq += 1
            mid = f"{src}:{self.epoch}.{self.seq}"
            # A relayed message's msg_id is its client's, not one this node numbered.
            self.trace.record("send", mid, src, dest, msg_type, len(line),
                              msg_id=None if relays else msg_id,
                              relays=claimed if relays else None)
            self._route(dest, mid, msg_type, line)
        elif dest == self.node_id:
            self.seq += 1
            mid = f"{src}:{self.epoch}.{self.seq}"
            self.trace.record("send", mid, src, dest, msg_type, len(line), msg_id=msg_id)
            self._deliver_peer(mid, src, msg_type, line)
        else:
            self.trace.record("client_out", "", src, dest, msg_type, len(line))
            # The node's line is already the JSON of the message: no need to encode again.
            self._to_control(b'{"event":"client","msg":' + line + b"}\n")

    def _route(self, dest: str, mid: str, msg_type: str, line: bytes) -> None:
        link = self.links[dest]
        copies, delay = 1, 0.0
        replaying: list[Rule] = []
        for rule in self.rules:
            if not rule.matches(dest, msg_type):
                continue
            if rule.drop and self.rng.random() < rule.drop:
                self.trace.record("drop", mid, self.node_id, dest, msg_type, len(line), "rule")
                return
            if rule.duplicate and self.rng.random() < rule.duplicate:
                copies += 1
            if rule.reorder and self.rng.random() < rule.reorder:
                delay += self.rng.uniform(0.0, rule.window)
            delay += rule.delay
            if rule.mutate and self.rng.random() < rule.mutate:
                # Only here is the line parsed: messages no mutation hits go as printed.
                line = self._mutated(rule, dest, mid, msg_type, line)
            if rule.replay:
                replaying.append(rule)
        frame = b'{"id":%s,"s":%s,"t":%s,"m":%s}\n' % (
            _q(mid).encode(), _q(self.node_id).encode(), _q(msg_type).encode(), line)
        if copies == 1 and delay <= 0 and not replaying:
            link.send(frame, mid, msg_type, len(line))  # most messages, every fault-free one
            return
        out: list[Outgoing] = [(frame, mid, msg_type, len(line))] * copies
        for _copy in range(1, copies):
            self.trace.record("dup", mid, self.node_id, dest, msg_type, len(line))
        out += self._replays(replaying, dest, mid)
        if replaying:
            self.sent.setdefault(dest, deque(maxlen=REPLAY_MEMORY)).append(out[0])
        for message in out:
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, link.send, *message)
            else:
                link.send(*message)

    def _mutated(self, rule: Rule, dest: str, mid: str, msg_type: str, line: bytes) -> bytes:
        """``line`` with one integer field of its body moved by one, recorded as a
        ``mutate`` event naming the field; as it was if the body has no such field."""
        msg = _decode(line.decode())
        body = msg["body"]
        names = rule.mutable(body)
        if not names:
            return line
        name = self.rng.choice(names)
        before = body[name]
        body[name] = before + self.rng.choice((-1, 1))
        mutated = _encode(msg).encode()
        self.trace.record("mutate", mid, self.node_id, dest, msg_type, len(mutated),
                          f"{name} {before}->{body[name]}")
        return mutated

    def _replays(self, rules: list[Rule], dest: str, mid: str) -> list[Outgoing]:
        """For each replay rule that fires, an earlier message to ``dest`` it matches, sent
        again as it was (same id: the trace shows a copy of that message), recorded as a
        ``replay`` event."""
        out: list[Outgoing] = []
        memory = self.sent.get(dest, ())
        for rule in rules:
            if self.rng.random() >= rule.replay:
                continue
            earlier = [m for m in memory if rule.matches(dest, m[2])]
            if not earlier:
                continue
            message = self.rng.choice(earlier)
            _frame, old_mid, old_type, size = message
            self.trace.record("replay", old_mid, self.node_id, dest, old_type, size,
                              f"with {mid}")
            out.append(message)
        return out

    def _deliver_peer(self, mid: str, src: str, msg_type: str, line: bytes) -> None:
        if not self.running:
            self.trace.record("drop", mid, src, self.node_id, msg_type, len(line), "node down")
            return
        self.trace.record("recv", mid, src, self.node_id, msg_type, len(line))
        self._write_node(line)

    def _write_node(self, line: bytes) -> None:
        self._node_out.append(line + b"\n")
        self._schedule_flush()

    def _to_control(self, data: bytes) -> None:
        self._control_out.append(data)
        self._schedule_flush()

    def flush_link_later(self, link: PeerLink) -> None:
        self._links_out.append(link)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush_writes)

    def flush_writes(self) -> None:
        """Write what is buffered for the node, the harness and each peer: one write each
        per loop turn, however many messages the turn produced."""
        self._flush_scheduled = False
        if self._links_out:
            links, self._links_out = self._links_out, []
            for link in links:
                link.flush()
        if self._node_out:
            data, self._node_out = b"".join(self._node_out), []
            proc = self.proc
            if proc is not None and proc.stdin is not None and self.running:
                # A node that is dying cannot take input; _read_node reports its exit.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
                    proc.stdin.write(data)
        if self._control_out:
            data, self._control_out = b"".join(self._control_out), []
            if self.control is not None and not self.control.is_closing():
                self.control.write(data)

    def _client_in(self, is_init: bool, deliver: Any, *args: Any) -> None:
        """Hand a client message to ``deliver`` now, or after a random hold-back.

        The hold-back (``configure``'s ``client_holdback``) is how a Byzantine twin hears
        clients in another order than its original: both get every request at once, and
        each message to the twin waits a uniform random time in ``[0, client_holdback]``
        from a seeded generator, so requests overtake one another. It lives here, in the
        agent, so it works on any node and any backend without touching the harness's
        client code; messages between nodes never wait. ``init`` is never held back: it
        must reach the node before anything else does.
        """
        if self.client_holdback <= 0 or is_init:
            deliver(*args)
            return
        asyncio.get_running_loop().call_later(
            self.holdback_rng.uniform(0.0, self.client_holdback), deliver, *args)

    def _deliver_line(self, line: bytes, header: re.Match[bytes]) -> None:
        """``{"cmd":"deliver","src":S,"type":T,"msg":M}``: M goes to the node byte for
        byte, unparsed (the harness encoded it)."""
        raw = line[header.end():].rstrip(b"\r\n")[:-1]
        try:
            if not self.running:
                self.deliver_client(_decode(raw.decode()))
                return
            src, msg_type = _unquote(header[1]), _unquote(header[2])
        except ValueError:
            return  # not from a harness: it quotes what it sends
        self.trace.record("client_in", "", src, self.node_id, msg_type, len(raw))
        self.clients.add(src)
        self._write_node(raw)

    def deliver_client(self, msg: Any) -> None:
        """A client message for the node."""
        if not isinstance(msg, dict):
            return
        body = msg.get("body")
        body = body if isinstance(body, dict) else {}
        line = _encode(msg).encode()
        if not self.running:
            self.send_event({"event": "undeliverable", "msg": msg,
                             "reason": "the node is not running"})
            return
        self.trace.record("client_in", "", str(msg.get("src")), self.node_id,
                          str(body.get("type")), len(line))
        self.clients.add(str(msg.get("src")))
        self._write_node(line)

    def _bad_output(self, line: bytes, why: str = "") -> None:
        self.bad_output_reported += 1
        if self.bad_output_reported <= 5:
            self.send_event({"event": "bad_output", "why": why,
                             "line": line[:500].decode("utf-8", "replace")})

    async def serve_peer(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            async for frames in line_batches(reader):
                for frame in frames:
                    self._from_peer(frame)
        except (OSError, TooLong):
            pass
        finally:
            writer.close()

    def _from_peer(self, frame: bytes) -> None:
        # The node's line is carried byte for byte, so a node receives exactly what its
        # peer printed; the sending agent checked it and put its src and type in front.
        header = FRAME.match(frame)
        if header is None:
            return
        try:
            mid, src, msg_type = (_unquote(part) for part in header.groups())
        except ValueError:
            return
        self._deliver_peer(mid, src, msg_type, frame[header.end():].rstrip(b"\r\n")[:-1])

    # -- control ----------------------------------------------------------------------

    def send_event(self, event: dict[str, Any]) -> None:
        """Queue an event for the harness; written before the loop waits again (at once
        when no loop runs)."""
        data = _encode(event).encode() + b"\n"
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.flush_writes_now(data)
            return
        self._to_control(data)

    def flush_writes_now(self, extra: bytes = b"") -> None:
        self._control_out.append(extra)
        self.flush_writes()

    async def serve_control(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        if self.control is not None:
            self.control.close()
        self.control = writer
        try:
            async for lines in line_batches(reader):  # the harness writes whole lines
                for line in lines:
                    header = DELIVER.match(line)
                    if header is not None:
                        self._client_in(header[2] == b'"init"', self._deliver_line, line, header)
                        continue
                    try:
                        request = json.loads(line)
                    except ValueError:
                        continue
                    await self._handle(request)
        except (OSError, TooLong):
            pass
        finally:
            if self.control is writer:
                self.control = None
            writer.close()

    async def _handle(self, request: dict[str, Any]) -> None:
        cmd = request.get("cmd")
        if cmd == "deliver":
            msg = request["msg"]
            body = msg.get("body") if isinstance(msg, dict) else None
            is_init = isinstance(body, dict) and body.get("type") == "init"
            self._client_in(is_init, self.deliver_client, msg)
            return
        reply: dict[str, Any] = {"id": request.get("id"), "ok": True}
        try:
            if cmd == "configure":
                self.node_id = request["node_id"]
                self.rng = random.Random(request.get("seed", 0))
                self.client_holdback = float(request.get("client_holdback", 0.0))
                self.holdback_rng = random.Random(f"client_holdback/{request.get('seed', 0)}")
                for link in self.links.values():
                    link.close()
                self.links = {
                    dest: PeerLink(self, dest, _address(address))
                    for dest, address in request["links"].items()
                }
                for link in self.links.values():
                    link.dial()
            elif cmd == "start":
                reply["pid"] = await self.start_node(list(request["command"]),
                                                     request.get("env"))
            elif cmd == "signal":
                self.signal_node(request["action"])
            elif cmd == "rules":
                self.rules = [Rule(spec) for spec in request["rules"]]
            elif cmd == "status":
                alive = self.proc is not None and self.proc.returncode is None
                reply.update(running=self.running, alive=alive, paused=self.paused,
                             pid=self.proc.pid if self.proc else None,
                             returncode=self.proc.returncode if self.proc else None)
            elif cmd == "flush":
                self.trace.flush()
            elif cmd == "shutdown":
                await self.shutdown()
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            reply = {"id": request.get("id"), "ok": False,
                     "error": f"{type(exc).__name__}: {exc}"}
        self.send_event(reply)
        self.flush_writes()  # the harness waits on this answer

    async def graceful_exit(self, grace: float = 5.0) -> None:
        """SIGTERM (e.g. ``docker stop``): give the node ``grace`` seconds to shut down
        cleanly, as a machine being stopped would, then exit."""
        if self.running:
            assert self.proc is not None
            self.signal_node("stop")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), grace)
        await self.shutdown()

    async def shutdown(self) -> None:
        if self.running:
            assert self.proc is not None
            self.expected_exit = self.stopping = True
            self._killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(self.proc.wait(), 5)
        for link in self.links.values():
            link.close()
        self.trace.flush()
        self.done.set()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


async def _watch_stdin(agent: Agent) -> None:
    """EOF on stdin means the harness is gone: take the node down with us."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):
        return  # stdin is not a pipe (run by hand): rely on signals and shutdown
    while await reader.read(4096):
        pass
    await agent.shutdown()


async def main_async(args: argparse.Namespace, workdir: str) -> int:
    os.makedirs(workdir, exist_ok=True)
    agent = Agent(workdir)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: spawn(agent.graceful_exit()))
    loop.add_signal_handler(signal.SIGINT, lambda: spawn(agent.shutdown()))
    control = await asyncio.start_server(agent.serve_control, args.host, args.control_port,
                                         limit=MAX_LINE)
    peer = await asyncio.start_server(agent.serve_peer, args.host, args.peer_port,
                                      limit=MAX_LINE)
    ready = {
        "event": "ready",
        "pid": os.getpid(),
        "control": control.sockets[0].getsockname()[1],
        "peer": peer.sockets[0].getsockname()[1],
        "workdir": workdir,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    if not args.no_stdin_watch:
        spawn(_watch_stdin(agent))
    await agent.done.wait()
    control.close()
    peer.close()
    if agent.control is not None:
        await asyncio.sleep(0.05)  # let the last reply reach the harness
    if agent.control is not None:
        agent.control.close()
    agent.trace.close()
    return 0


def serve(args: argparse.Namespace, workdir: str) -> int:
    try:
        return asyncio.run(main_async(args, workdir))
    except OSError as exc:
        print(f"dchaos agent: {exc}", file=sys.stderr)
        return 2


def hatch(args: argparse.Namespace) -> int:
    """Fork one agent per ``--workdir`` and wait for them all; see the module's docstring."""
    children: dict[int, str] = {}
    for workdir in args.workdir:
        pid = os.fork()
        if pid == 0:
            os._exit(_forked(args, workdir))
        children[pid] = workdir
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        workdir = children.pop(pid, "")
        # Said for every agent; the harness reads it only while it waits for ready lines,
        # where it means this agent failed to start.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(json.dumps({"event": "exited", "workdir": workdir,
                                         "code": os.waitstatus_to_exitcode(status)}) + "\n")
            sys.stdout.flush()
    return 0


def _forked(args: argparse.Namespace, workdir: str) -> int:
    code = 1
    try:
        os.setsid()  # a signal to one agent's group is for that agent alone
        os.makedirs(workdir, exist_ok=True)
        log = os.open(os.path.join(workdir, "agent.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        os.close(log)
        code = serve(args, workdir)
    except BaseException:  # a forked child must never return into the fork loop
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dchaos agent: runs one node")
    parser.add_argument("--workdir", required=True, action="append",
                        help="the node's folder (logs, trace); given more than once, one "
                             "agent per folder, each forked from this process")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--peer-port", type=int, default=0)
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="do not exit at EOF on stdin (when run by hand)")
    args = parser.parse_args(argv)
    if len(args.workdir) > 1:
        if args.control_port or args.peer_port:
            parser.error("fixed ports are for one agent; give one --workdir")
        return hatch(args)
    return serve(args, args.workdir[0])


if __name__ == "__main__":
    sys.exit(main())
