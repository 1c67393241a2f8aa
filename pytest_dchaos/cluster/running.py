"""A running cluster: nodes under agents, their links through the fault layer.

Backends build a :class:`Cluster` (they start agents, the fault layer and the links); from
then on everything — the runner, faults, protocol families, and a test driving a cluster
by hand — talks to it through this one class. It is thread-safe: clients, the nemesis and
monitors call it concurrently.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_dchaos.cluster.agentlink import AgentLink
from pytest_dchaos.cluster.extensions import offered
from pytest_dchaos.cluster.host import AgentHost, Host
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.cluster.timers import Timers
from pytest_dchaos.errors import HarnessError, NodeDown, NodeError, RpcTimeout
from pytest_dchaos.services import Services

ADMIN_CLIENT = "c0"  # the harness's own client id, for init and state queries
#: Where a node's process is: ``starting`` until it answered init, ``paused`` (SIGSTOP: alive
#: but silent), ``down`` (killed, stopped or crashed).
NodeStatus = Literal["starting", "running", "paused", "down"]

ReplyHandler = Callable[[str, dict[str, Any]], None]
_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class ClusterPlan:
    """What a backend needs to start a cluster."""

    run_id: str
    node_ids: tuple[str, ...]
    command: tuple[str, ...]
    workdir: Path
    seed: int
    start_timeout: float = 10.0
    image: str | None = None
    init_extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    toxiproxy: str | None = None
    #: The command is the family's reference node (``python3 -m reference_nodes...``): a
    #: backend runs it with the Python that has ``reference_nodes`` importable.
    reference: bool = False
    #: The run may leave its cluster up after a failure (``--keep``).
    keep: bool = False
    #: A Toxiproxy image to run the fault layer in (container backends).
    toxiproxy_image: str | None = None
    #: Members that speak as another node (Byzantine twins): member -> node id.
    identities: Mapping[str, str] = field(default_factory=dict)
    #: Whom each member talks to, where not everyone: member -> {node id: member}.
    peer_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: How long at most client messages to a member are held back (a reordering twin).
    client_holdback: Mapping[str, float] = field(default_factory=dict)
    #: Placement constraints (Swarm's) each member's machine must meet, where any.
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def identity(self, member: str) -> str:
        return self.identities.get(member, member)

    def agent_settings(self, member: str) -> dict[str, Any]:
        """What the agent of ``member`` is told in ``configure``, besides its links."""
        settings: dict[str, Any] = {"node_id": self.identity(member),
                                    "seed": self.seed * 1000 + self.node_ids.index(member)}
        if self.client_holdback.get(member):
            settings["client_holdback"] = self.client_holdback[member]
        return settings

    @property
    def identity_ids(self) -> tuple[str, ...]:
        """The node ids the nodes know (a twin adds a process, not an id)."""
        return tuple(dict.fromkeys(self.identity(m) for m in self.node_ids))

    def peers(self, member: str) -> dict[str, str]:
        """node id -> the member this member's messages for it go to."""
        if member in self.peer_map:
            return dict(self.peer_map[member])
        return {n: n for n in self.node_ids if n != member}


@dataclass(frozen=True)
class Incident:
    """Something a node did that breaks the node contract or that nobody asked for."""

    time: float
    node: str
    kind: str  # crash | bad_output | agent_lost
    detail: str


class Request(Future[dict[str, Any]]):
    """A client message on its way: its result is the node's reply body."""

    def __init__(self, client: str, msg_id: int | None) -> None:
        super().__init__()
        self.client = client
        self.msg_id = msg_id

    def abandon(self, cluster: Cluster) -> None:
        """Stop waiting: a late reply is then ignored."""
        cluster.forget(self.client, self.msg_id)


class Multicast:
    """One client message sent to several nodes, each copy with its own ``msg_id``; every
    reply is handed to ``on_reply(node, body)`` as it arrives (on an agent's reader thread).
    """

    def __init__(self, client: str, on_reply: ReplyHandler) -> None:
        self.client = client
        self.on_reply = on_reply
        #: The nodes the message was handed to (running, their agents reachable).
        self.reached: list[str] = []
        self.msg_ids: list[int] = []

    def abandon(self, cluster: Cluster) -> None:
        """Stop listening: replies still to come are ignored."""
        cluster.forget_all(self.client, self.msg_ids)


@dataclass
class _Pending:
    """A client message waiting for its reply: a future to settle, or a handler to call."""

    node: str
    future: Future[dict[str, Any]] | None = None
    on_reply: ReplyHandler | None = None

    def reply(self, body: dict[str, Any]) -> None:
        if self.on_reply is not None:
            self.on_reply(self.node, body)
        elif self.future is not None and not self.future.done():
            self.future.set_result(body)

    def fail(self, error: Exception) -> None:
        # A multicast's caller counts replies; a copy that failed is just one less.
        if self.future is not None and not self.future.done():
            self.future.set_exception(error)


class Cluster:
    def __init__(self, plan: ClusterPlan, network: Network, host: Host | None = None) -> None:
        self.plan = plan
        self.node_ids = plan.node_ids
        self.network = network
        self.agents: dict[str, AgentLink] = {}
        self.incidents: list[Incident] = []
        #: Called with (cluster, node) after a node answered init — at start and after every
        #: restart. Protocol families hang their setup (e.g. ``topology``) here.
        self.on_node_started: list[Callable[[Cluster, str], None]] = []
        self._status: dict[str, NodeStatus] = dict.fromkeys(plan.node_ids, "down")
        #: Which faults hold each node paused ("pause") or down ("down"), by fault key.
        self._holds: dict[tuple[str, str], set[str]] = {}
        self._owed_restarts: set[str] = set()
        self._pids: dict[str, int | None] = dict.fromkeys(plan.node_ids)
        # What the current process of each node did wrong, for errors at start.
        self._exits: dict[str, str] = {}
        #: Nodes whose current process exited on its own (no fault of the harness's).
        self._fell: set[str] = set()
        self._bad_lines: dict[str, str] = {}
        # (client, msg_id) -> the request waiting for its reply. Not under _lock: every
        # agent reader (and the timer thread) touches it per message. Each dict operation is
        # atomic, and an entry is settled by whoever pops it, exactly once.
        self._pending: dict[tuple[str, Any], _Pending] = {}
        self._msg_ids: dict[str, itertools.count[int]] = {}
        self._rules: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in plan.node_ids}
        self._lock = threading.Lock()
        #: Client pacing, timeouts and retransmissions (one thread, started on first use).
        self.timers = Timers(f"timers-{plan.run_id}")
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        #: What each node listed in its last ``init_ok`` (see :mod:`.extensions`).
        self.extensions: dict[str, frozenset[str]] = {}
        #: Where the node processes run, as the backend says (see :class:`Host`).
        self.host: Host = host or AgentHost()
        #: Maelstrom's services (``lin-kv``, ``seq-kv`` ...), offered to every node.
        self.services = Services(plan.seed)

    # -- wiring, used by backends -------------------------------------------------------

    def attach(self, node: str, link: AgentLink) -> None:
        self.agents[node] = link

    def add_closer(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` at :meth:`close` (last added, first run)."""
        self._closers.append(closer)

    def handle_event(self, node: str, event: dict[str, Any]) -> None:
        """Events from agents (called on their reader threads)."""
        kind = event.get("event")
        if kind == "client":
            msg = event.get("msg") or {}
            if msg.get("dest") in self.services:
                self._to_service(node, msg)
                return
            body = msg.get("body") or {}
            pending = self._pending.pop((str(msg.get("dest")), body.get("in_reply_to")), None)
            if pending is not None:
                pending.reply(body)
        elif kind == "undeliverable":
            msg = event.get("msg") or {}
            body = msg.get("body") or {}
            pending = self._pending.pop((str(msg.get("src")), body.get("msg_id")), None)
            if pending is not None:
                pending.fail(NodeDown(f"{node} is not running",
                                      by_harness=self._down_by_harness(node)))
        elif kind == "exit":
            self._node_exited(node, event)
        elif kind == "bad_output":
            line, why = event.get("line", ""), event.get("why") or ""
            with self._lock:
                self._bad_lines.setdefault(node, line)
            if why:  # a well-formed message that breaks the contract otherwise
                self._incident(node, "bad_output", f"printed {why} (dropped): {line!r}")
                return
            self._incident(node, "bad_output", f"printed a line that is not a message: {line!r}")
            self._fail_pending(node, NodeError(
                node, f"printed a line that is not a JSON message on stdout: {line!r}; "
                "stdout is for messages only (log to stderr)",
                log_path=str(self.stderr_path(node))))
        elif kind == "agent_lost" and not self._closed:
            with self._lock:
                self._status[node] = "down"
            self._incident(node, "agent_lost", "its agent went away")
            self._fail_pending(node, RpcTimeout(f"the agent of {node} went away"))

    def _to_service(self, node: str, msg: dict[str, Any]) -> None:
        """A node's request to a service: answered, and the answer delivered to the node
        (after the network's latency, as in Maelstrom) like a client's request."""
        reply = self.services.answer(msg)
        if reply is None:
            return
        delay = self.services.delay()
        if delay > 0:
            self.timers.call_later(delay, self._deliver_service_reply, node, reply)
        else:
            self._deliver_service_reply(node, reply)

    def _deliver_service_reply(self, node: str, reply: dict[str, Any]) -> None:
        # ``node`` is the member that asked (a twin shares its node's id, not its agent).
        agent = self.agents.get(node)
        if agent is None or agent.closed:
            return
        with contextlib.suppress(HarnessError):  # its agent went away: reported as such
            agent.deliver(reply)

    def _node_exited(self, node: str, event: dict[str, Any]) -> None:
        with self._lock:
            if event.get("pid") != self._pids.get(node):
                return  # a previous incarnation, already replaced by a restart
            was = self._status.get(node)
            self._status[node] = "down"
        how = (f"signal {event['signal']}" if event.get("signal")
               else f"exit code {event.get('code')}")
        with self._lock:
            self._exits[node] = how
            if not event.get("expected"):
                self._fell.add(node)
        if not event.get("expected"):
            self._incident(node, "crash", f"exited on its own ({how})")
        tail = event.get("stderr_tail") or []
        if was == "starting":
            error: Exception = NodeError(node, f"exited ({how}) before answering init",
                                         last_lines=tail, log_path=str(self.stderr_path(node)))
        else:
            error = RpcTimeout(f"{node} went down ({how}) before answering",
                               by_harness=bool(event.get("expected")))
        self._fail_pending(node, error)

    def _down_by_harness(self, node: str) -> bool:
        """Whether ``node`` is down (or starting) because the harness made it so, rather
        than because its process exited on its own."""
        with self._lock:
            return node not in self._fell

    def note(self, node: str, kind: str, detail: str) -> None:
        """Record an incident the report lists (backends use it for what they notice)."""
        self._incident(node, kind, detail)

    def _incident(self, node: str, kind: str, detail: str) -> None:
        with self._lock:
            self.incidents.append(Incident(time.time(), node, kind, detail))

    def _fail_pending(self, node: str, error: Exception) -> None:
        doomed = [key for key, p in list(self._pending.items()) if p.node == node]
        for key in doomed:
            p = self._pending.pop(key, None)
            if p is not None:  # else its reply came first
                p.fail(error)

    # -- client traffic -----------------------------------------------------------------

    def submit(self, node: str, body: Mapping[str, Any], *,
               client: str = ADMIN_CLIENT) -> Request:
        """Send ``body`` from ``client`` to ``node``; the request's result is the reply body.

        It fails with :class:`NodeDown` when the message definitely did not reach a running
        node, and with :class:`RpcTimeout` when the node went down before answering.
        """
        if node not in self.agents:
            raise HarnessError(f"no node {node!r} in this cluster ({', '.join(self.node_ids)})")
        status = self.status(node)
        # A (re)starting node gets init before anything else, as in Maelstrom: a client's
        # request written to it before init would reach a node that does not know its own
        # id yet (Maelstrom's Go library then answers with an empty src).
        if status == "down" or (status == "starting" and client != ADMIN_CLIENT):
            refused = Request(client, None)
            refused.set_exception(NodeDown(
                f"{node} is not running" if status == "down"
                else f"{node} is starting (init not answered)",
                by_harness=self._down_by_harness(node)))
            return refused
        with self._lock:
            counter = self._msg_ids.setdefault(client, itertools.count(1))
            request = Request(client, next(counter))
        self._pending[(client, request.msg_id)] = _Pending(node, future=request)
        message = {"src": client, "dest": node, "body": {**body, "msg_id": request.msg_id}}
        try:
            self.agents[node].deliver(message)
        except HarnessError as exc:
            request.abandon(self)
            request.set_exception(NodeDown(str(exc)))
        return request

    def multicast(self, nodes: Iterable[str], body: Mapping[str, Any], *, client: str,
                  on_reply: ReplyHandler) -> Multicast:
        """Send ``body`` from ``client`` to each of ``nodes`` (each copy with its own
        ``msg_id``) and hand every reply to ``on_reply(node, body)``.

        The body is encoded once for all copies: this is the path of a client that talks
        to every replica at once. Nodes that are down or whose agent is gone are left out of
        the result's ``reached``; nothing else is reported for them.
        """
        encoded = _ENCODER.encode({k: v for k, v in body.items() if k != "msg_id"}).encode()
        msg_type = str(body.get("type"))
        rest = encoded[1:] if encoded == b"{}" else b"," + encoded[1:]
        src = _ENCODER.encode(client).encode()
        sending = Multicast(client, on_reply)
        targets: list[tuple[str, int]] = []
        with self._lock:
            counter = self._msg_ids.setdefault(client, itertools.count(1))
            for node in nodes:
                if node not in self.agents:
                    raise HarnessError(f"no node {node!r} in this cluster "
                                       f"({', '.join(self.node_ids)})")
                if self._status[node] != "down":
                    targets.append((node, next(counter)))
        # Every copy is listed before any is sent: a reply may come, and the caller abandon
        # the rest, while later copies are still on their way.
        for node, msg_id in targets:
            self._pending[(client, msg_id)] = _Pending(node, on_reply=on_reply)
            sending.msg_ids.append(msg_id)
        for node, msg_id in targets:
            line = b'{"src":%s,"dest":%s,"body":{"msg_id":%d%s}' % (
                src, _ENCODER.encode(node).encode(), msg_id, rest)
            try:
                self.agents[node].deliver_encoded(line, client, msg_type)
            except HarnessError:
                self.forget(client, msg_id)
                continue
            sending.reached.append(node)
        return sending

    def ask_all(self, nodes: Iterable[str], body: Mapping[str, Any], *,
                reply_type: str, timeout: float) -> dict[str, dict[str, Any]]:
        """Send ``body`` to ``nodes`` at once and collect the replies of type ``reply_type``
        that arrive within ``timeout``; nodes that are silent or answer otherwise are left
        out (for state queries, where a missing answer is itself the finding)."""
        futures = {node: self.submit(node, body) for node in nodes}
        deadline = time.monotonic() + timeout
        replies: dict[str, dict[str, Any]] = {}
        for node, future in futures.items():
            try:
                reply = future.result(max(0.0, deadline - time.monotonic()))
            except (FutureTimeout, HarnessError):
                future.abandon(self)
                continue
            if reply.get("type") == reply_type:
                replies[node] = reply
        return replies

    def offering(self, extension: str, nodes: Iterable[str] | None = None
                 ) -> tuple[str, ...]:
        """Those of ``nodes`` (default: the running ones) that listed ``extension`` in
        their ``init_ok``: the only ones the harness may send it to."""
        with self._lock:
            offers = {n: e for n, e in self.extensions.items() if extension in e}
        return tuple(n for n in (self.running_nodes() if nodes is None else nodes)
                     if n in offers)

    def running_nodes(self) -> tuple[str, ...]:
        """Nodes whose process runs and is not paused: the ones that can answer now."""
        with self._lock:
            return tuple(n for n in self.node_ids if self._status[n] == "running")

    def forget(self, client: str, msg_id: int | None) -> None:
        """Stop waiting for a reply (after a timeout): a late answer is then ignored."""
        self._pending.pop((client, msg_id), None)

    def forget_all(self, client: str, msg_ids: Iterable[int]) -> None:
        """:meth:`forget` for several messages of one client."""
        for msg_id in msg_ids:
            self._pending.pop((client, msg_id), None)

    def request(self, node: str, body: Mapping[str, Any], *, client: str = ADMIN_CLIENT,
                timeout: float = 5.0) -> dict[str, Any]:
        """Send and wait for the reply; raises :class:`RpcTimeout` after ``timeout``."""
        future = self.submit(node, body, client=client)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.abandon(self)
            raise RpcTimeout(
                f"{node} did not answer {body.get('type')!r} within {timeout:g}s"
            ) from None

    # -- node processes -----------------------------------------------------------------

    def init_body(self, node: str) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "init", "node_id": self.plan.identity(node),
                                "node_ids": list(self.plan.identity_ids)}
        extra = self.plan.init_extra.get(node)
        if extra:
            body["dchaos"] = dict(extra)
        return body

    def start(self, nodes: Iterable[str] | None = None) -> None:
        """Start node processes and complete the init handshake, all nodes at once."""
        nodes = list(self.node_ids if nodes is None else nodes)
        for node in nodes:
            with self._lock:
                self._status[node] = "starting"
                # Until the agent tells the new pid, exit events can only be about an
                # earlier process (a restart right after a kill): they must be ignored.
                self._pids[node] = None
                self._exits.pop(node, None)
                self._fell.discard(node)
                self._bad_lines.pop(node, None)
        # Every agent is asked before any answer is awaited: the nodes start side by side.
        starting = {node: self.agents[node].submit("start", command=list(self.plan.command),
                                                   env=dict(self.plan.env))
                    for node in nodes}
        for node, request in starting.items():
            try:
                reply = request.result()
                with self._lock:
                    self._pids[node] = reply.get("pid")
            except HarnessError as exc:
                raise HarnessError(
                    f"cannot start node {node} with {' '.join(self.plan.command)!r}: {exc}"
                ) from None
        inits = {node: self.submit(node, self.init_body(node)) for node in nodes}
        for node, future in inits.items():
            self._await_init(node, future)
        for node in nodes:
            for hook in self.on_node_started:
                hook(self, node)

    def _await_init(self, node: str, future: Future[dict[str, Any]]) -> None:
        timeout = self.plan.start_timeout
        deadline = time.monotonic() + timeout
        log = str(self.stderr_path(node))
        while True:
            with self._lock:
                bad = self._bad_lines.get(node)
            if bad is not None:
                raise NodeError(node, f"printed a line that is not a JSON message on stdout: "
                                f"{bad!r}; stdout is for messages only (log to stderr)",
                                log_path=log)
            try:
                reply = future.result(min(0.1, max(0.0, deadline - time.monotonic())))
                break
            except FutureTimeout:
                if time.monotonic() >= deadline:
                    raise NodeError(node, f"did not answer init within {timeout:g}s",
                                    last_lines=self.stderr_tail(node), log_path=log) from None
            except (RpcTimeout, NodeDown):
                how = self._exit_of(node)
                what = f"exited ({how})" if how else "stopped"
                raise NodeError(node, f"{what} before answering init",
                                last_lines=self.stderr_tail(node), log_path=log) from None
        if reply.get("type") != "init_ok":
            raise NodeError(node, f"answered init with {reply!r} instead of init_ok",
                            last_lines=self.stderr_tail(node),
                            log_path=str(self.stderr_path(node)))
        with self._lock:
            self.extensions[node] = offered(reply)
            if self._status[node] == "starting":
                self._status[node] = "running"

    def _exit_of(self, node: str, wait: float = 1.0) -> str | None:
        """How the node's process ended, once the agent has said so (it may lag)."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                how = self._exits.get(node)
            if how is not None or time.monotonic() >= deadline:
                return how
            time.sleep(0.02)

    def status(self, node: str) -> NodeStatus:
        """``running``, ``paused``, ``down`` (killed or crashed) or ``starting``."""
        with self._lock:
            return self._status[node]

    def pids(self) -> dict[str, int | None]:
        """The process id of each node's current (or last) process."""
        with self._lock:
            return dict(self._pids)

    def live_nodes(self) -> tuple[str, ...]:
        """Nodes whose process runs (paused ones included: they are slow, not dead)."""
        with self._lock:
            return tuple(n for n in self.node_ids if self._status[n] in ("running", "paused"))

    def kill(self, node: str) -> None:
        """SIGKILL the node (its folder on disk stays)."""
        if self.status(node) == "down":
            return
        with self._lock:
            self._status[node] = "down"
        self.host.kill(self, node)
        self._fail_pending(node, RpcTimeout(f"{node} was killed before answering"))

    def stop(self, node: str, grace: float = 5.0) -> None:
        """Stop the node gracefully: SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.status(node) == "down":
            return
        with self._lock:
            self._status[node] = "down"
        self.host.stop(self, node, grace)
        self._fail_pending(node, RpcTimeout(f"{node} was stopped before answering"))

    def pause(self, node: str) -> None:
        if self.status(node) != "running":
            return
        self.host.pause(self, node)
        with self._lock:
            self._status[node] = "paused"

    def resume(self, node: str) -> None:
        if self.status(node) != "paused":
            return
        self.host.resume(self, node)
        with self._lock:
            self._status[node] = "running"

    def restart(self, node: str) -> None:
        """Kill the node if it runs, start it again and redo init and protocol setup."""
        self.kill(node)
        self.host.prepare_restart(self, node)
        self.start([node])

    # -- faults that overlap on one node -------------------------------------------------
    #
    # Two pauses of one node may overlap (explore draws them independently): the node stays
    # paused until the last ends, as the fault timeline, and so every checker, has it. The
    # same for kills and stops with a duration: the node comes back when the last ends, or,
    # if a pause began while it was down, when that pause ends too (a node started runs
    # for a moment before it could be frozen again, which the timeline has as down).

    def hold(self, node: str, how: str, key: str) -> bool:
        """Note that fault ``key`` holds ``node`` paused or down (``how``); True if no
        other fault did already."""
        with self._lock:
            holders = self._holds.setdefault((node, how), set())
            first = not holders
            holders.add(key)
            return first

    def release(self, node: str, how: str, key: str) -> bool:
        """Fault ``key`` lets go of ``node``; True if no other fault holds it so."""
        with self._lock:
            holders = self._holds.setdefault((node, how), set())
            holders.discard(key)
            return not holders

    def held(self, node: str, how: str) -> bool:
        with self._lock:
            return bool(self._holds.get((node, how)))

    def owe_restart(self, node: str) -> None:
        """A kill or stop of ``node`` ended while a pause held it: the pause's end starts it."""
        with self._lock:
            self._owed_restarts.add(node)

    def take_owed_restart(self, node: str) -> bool:
        """True, once, if ``node`` is owed a start (see ``owe_restart``)."""
        with self._lock:
            owed = node in self._owed_restarts
            self._owed_restarts.discard(node)
            return owed

    def reinstall_rules(self, node: str) -> None:
        """Send ``node``'s message rules again (to a fresh agent after a restart)."""
        with self._lock:
            combined = [r for rs in self._rules[node].values() for r in rs]
        if combined:
            self.agents[node].call("rules", rules=combined)

    # -- message-level faults -----------------------------------------------------------

    def set_rules(self, key: str, rules_by_node: Mapping[str, list[dict[str, Any]]]) -> None:
        """Install message rules (drop/duplicate/reorder) owned by ``key`` on each node."""
        for node, rules in rules_by_node.items():
            with self._lock:
                self._rules[node][key] = list(rules)
                combined = [r for rs in self._rules[node].values() for r in rs]
            self._push_rules(node, combined)

    def clear_rules(self, key: str) -> None:
        for node in self.node_ids:
            with self._lock:
                had = self._rules[node].pop(key, None)
                combined = [r for rs in self._rules[node].values() for r in rs]
            if had is not None:
                self._push_rules(node, combined)

    def _push_rules(self, node: str, combined: list[dict[str, Any]]) -> None:
        # An agent that died with its container (Docker) gets the rules that hold then
        # when it comes back (reinstall_rules); there is nobody to tell now.
        if not self.agents[node].closed:
            self.agents[node].call("rules", rules=combined)

    def rule_keys(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(k for rules in self._rules.values() for k in rules))

    # -- files --------------------------------------------------------------------------

    def node_dir(self, node: str) -> Path:
        return self.plan.workdir / node

    def stderr_path(self, node: str) -> Path:
        return self.node_dir(node) / "stderr.log"

    def stderr_tail(self, node: str, lines: int = 20) -> list[str]:
        self._fetch(node)
        try:
            text = self.stderr_path(node).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]

    def flush_traces(self) -> None:
        for node, agent in self.agents.items():
            if agent.closed:
                continue  # killed with its container; what it wrote is on disk already
            try:
                agent.call("flush", timeout=5)
            except HarnessError:
                self._incident(node, "agent_lost", "could not flush its trace")
        for node in self.plan.node_ids:
            self._fetch(node)

    def _fetch(self, node: str) -> None:
        try:
            self.host.fetch_files(self, node)
        except HarnessError as exc:
            self._incident(node, "files_lost", str(exc))

    # -- teardown -----------------------------------------------------------------------

    def detach(self) -> str | None:
        """Let go of a running cluster without stopping it (``--keep``); returns how to reach
        and remove it, or None (and does nothing) if this backend cannot keep it."""
        instructions = self.host.keep_instructions(self)
        if instructions is None:
            return None
        self._closed = True
        for link in self.agents.values():
            link.close()
        return instructions

    def close(self) -> None:
        """Stop every node, agent and the fault layer. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.timers.close()
        errors = []
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise HarnessError(f"cleaning up the cluster failed: {errors[0]}")

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
