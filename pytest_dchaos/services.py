"""Maelstrom's built-in services: ``lin-kv``, ``seq-kv``, ``lww-kv`` and ``lin-tso``.

A Maelstrom node may send an RPC to one of these ids instead of to a node, and gets the
reply as from any peer. Many Gossip Glomers solutions are built on them (a g-counter kept in
``seq-kv``, a transaction layer on ``lin-kv``), so they must be here for such nodes to run
unchanged. Maelstrom always offers them; so does every cluster here: a node that never
sends to them is not affected.

Where they run: in the harness, one :class:`Services` per cluster, for the whole run (a
node's restart does not touch them). A node's message to a destination that is not a peer
reaches the harness on its agent's control connection (the path of a reply to a client);
the cluster hands those addressed to a service to :meth:`Services.answer` and delivers the
answer back the way it delivers a client's request, so both legs are in the node's trace
(``client_out`` to the service, ``client_in`` from it) on either backend.

Semantics, as Maelstrom's ``service.clj`` implements them (read there, written anew here):

- ``read {key}`` → ``read_ok {value}``, or error 20 (key-does-not-exist);
  ``write {key, value}`` → ``write_ok``; ``cas {key, from, to, create_if_not_exists?}`` →
  ``cas_ok``, error 22 (precondition-failed) when the value is not ``from``, error 20 when
  the key is missing (unless ``create_if_not_exists``, which then writes ``to``).
- ``lin-kv`` is linearizable: one map, each request applied atomically at its arrival.
- ``seq-kv`` is sequentially consistent: it keeps the last :data:`SEQ_WINDOW` states of one
  total order and remembers, per caller, the newest state that caller has acted on. A
  request is tried on a state drawn at random between that one and the newest; if it leaves
  that state unchanged (a read, a failed ``cas``, a write of the value already there) it is
  answered from it — a stale read, or an update ordered into the past — otherwise it is
  applied to the newest state, which it extends. So one total order exists, each caller's
  operations keep their order, and no caller goes back in time, yet a read may miss another
  caller's recent writes. A caller forces a fresh state by writing (any key) first.
- ``lww-kv`` is eventually consistent, last-write-wins: :data:`LWW_REPLICAS` independent
  replicas, each with a Lamport clock that stamps its writes. Every request first merges
  one random replica into another (highest stamp wins), then goes to a random replica, so
  reads lag writes and concurrent updates are lost.
- ``lin-tso`` answers ``ts`` with ``ts_ok {ts}``: 0, 1, 2 ... strictly increasing.

Every random choice comes from a generator seeded by the run's seed and the service's
name: the same requests in the same order get the same answers. (Across runs the order in
which nodes' requests arrive is up to the operating system, as in Maelstrom.)

Where this differs from Maelstrom, deliberately:

- A request a service cannot serve is answered with an error (10 not-supported for an
  unknown type, 12 malformed-request for a missing field) where Maelstrom's service thread
  logs an exception and never answers (the node would wait out its timeout). A message
  that is itself a reply (it has ``in_reply_to``) is not answered, here as there.
- ``lww-kv`` honours ``create_if_not_exists`` as its documentation promises ("the API is
  identical"); Maelstrom's code answers 20 for a missing key regardless.
- Values are compared as JSON (``1`` and ``1.0`` differ, as ``=`` does in Clojure) and keys
  may be any JSON value.

Faults: in Maelstrom a service is a node of the simulated network that no nemesis touches:
partitions are drawn among the cluster's nodes only (a node cut off from every peer still
reaches ``lin-kv``), crashes hit nodes only, but its network latency applies to every
message that does not involve a client, service traffic included, both ways. The same
here: services are never partitioned, killed or paused, and each answer is delivered after
two draws of the scenario's baseline latency (request and reply leg; see :meth:`delay`).
Latency a fault adds to links and the agents' message rules (drop, duplicate) do not reach
service traffic, as Maelstrom's partitions do not (its ``flaky`` loss would; it is not one
of its default faults).
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The destinations that are services, not nodes (Maelstrom's names; a contract).
SERVICE_IDS = ("lin-kv", "seq-kv", "lww-kv", "lin-tso")
#: How many past states ``seq-kv`` may answer from (Maelstrom's ring buffer holds 32).
SEQ_WINDOW = 32
#: How many replicas ``lww-kv`` simulates (the number Maelstrom's code uses; its docs say 5).
LWW_REPLICAS = 2

KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22
NOT_SUPPORTED = 10
MALFORMED_REQUEST = 12

_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


class _Missing:
    """The value of a key that was never written."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def is_service(node_id: object) -> bool:
    """Is ``node_id`` one of Maelstrom's services?"""
    return node_id in SERVICE_IDS


class Service(Protocol):
    """One service: takes a request from ``src`` and returns the reply body (without
    ``in_reply_to``, which :class:`Services` adds). Must be safe to call from several
    threads at once (agents' reader threads)."""

    def handle(self, src: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


def error(code: int, text: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "text": text}


class Refused(Exception):
    """A request a service cannot serve: answered with an error of ``code``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values (so ``1 != 1.0`` and ``1 != true``, unlike Python's ``==``)."""
    if a is MISSING or b is MISSING:
        return a is b
    return bool(_canonical(a) == _canonical(b))


def kv_key(body: Mapping[str, Any]) -> str:
    """The request's key, canonically encoded (JSON keys may be lists, which Python cannot
    hash); refuses a request of another type, or without a key."""
    if body.get("type") not in ("read", "write", "cas"):
        raise Refused(NOT_SUPPORTED, f"a key-value service serves read, write and cas, "
                      f"not {body.get('type')!r}")
    if "key" not in body:
        raise Refused(MALFORMED_REQUEST, f"{body.get('type')} needs a key")
    return str(_canonical(body["key"]))


def kv_step(current: Any, body: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """One key-value operation on one key whose value is ``current`` (:data:`MISSING` if
    none): returns the key's value afterwards and the reply body."""
    kind = body["type"]
    if kind == "read":
        if current is MISSING:
            return current, error(KEY_DOES_NOT_EXIST, "key does not exist")
        return current, {"type": "read_ok", "value": current}
    needed = ("value",) if kind == "write" else ("from", "to")
    for name in needed:
        if name not in body:
            raise Refused(MALFORMED_REQUEST, f"{kind} needs {name!r}")
    if kind == "write":
        return body["value"], {"type": "write_ok"}
    if current is MISSING:
        if body.get("create_if_not_exists"):
            return body["to"], {"type": "cas_ok"}
        return current, error(KEY_DOES_NOT_EXIST, "key does not exist")
    if not same(current, body["from"]):
        return current, error(PRECONDITION_FAILED,
                               f"current value {_canonical(current)} is not "
                               f"{_canonical(body['from'])}")
    return body["to"], {"type": "cas_ok"}


class LinKV:
    """``lin-kv``: one map, each request applied whole at its arrival."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def handle(self, src: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = kv_key(body)
        with self._lock:
            value, reply = kv_step(self._values.get(key, MISSING), body)
            if value is not MISSING:
                self._values[key] = value
        return reply


class SeqKV:
    """``seq-kv``: sequentially consistent, with stale reads (see the module's docstring).

    The total order is numbered by state: state ``i`` is the store after the ``i``-th
    update. Each key keeps its values by the state that set them, so the store at any state
    of the window is a binary search per key away."""

    def __init__(self, rng: random.Random, window: int = SEQ_WINDOW) -> None:
        self._rng = rng
        self._window = window
        self._newest = 0
        #: key -> [(state, value)] in state order; the first may precede the window.
        self._history: dict[str, list[tuple[int, Any]]] = {}
        #: caller -> the newest state it has acted on (it may never act on an older one).
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def _value_at(self, key: str, state: int) -> Any:
        history = self._history.get(key, [])
        at = bisect.bisect_right(history, state, key=lambda entry: entry[0])
        return history[at - 1][1] if at else MISSING

    def handle(self, src: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = kv_key(body)
        with self._lock:
            oldest = max(self._seen.get(src, 0), self._newest - self._window + 1)
            state = self._rng.randint(oldest, self._newest)
            current = self._value_at(key, state)
            value, reply = kv_step(current, body)
            if not same(value, current):
                # An update to a past state could contradict what came after it: it goes
                # to the newest state instead, and extends the order.
                state = self._newest
                current = self._value_at(key, state)
                value, reply = kv_step(current, body)
                if not same(value, current):
                    state = self._newest = self._newest + 1
                    self._append(key, state, value)
            self._seen[src] = state
        return reply

    def _append(self, key: str, state: int, value: Any) -> None:
        history = self._history.setdefault(key, [])
        history.append((state, value))
        oldest = state - self._window + 1
        # The entry in force at the window's oldest state stays; older ones can go.
        while len(history) > 1 and history[1][0] <= oldest:
            del history[0]


@dataclass
class _Replica:
    """One ``lww-kv`` replica: a Lamport clock and each key's (stamp, value)."""

    clock: int = 0
    values: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def merge_from(self, other: _Replica) -> None:
        """Take ``other``'s values where their stamp is at least ours (on a tie the
        incoming value wins, as in Maelstrom)."""
        self.clock = max(self.clock, other.clock)
        for key, (stamp, value) in other.values.items():
            mine = self.values.get(key)
            if mine is None or stamp >= mine[0]:
                self.values[key] = (stamp, value)


class LwwKV:
    """``lww-kv``: independent replicas gossiping by last write wins (see the module)."""

    def __init__(self, rng: random.Random, replicas: int = LWW_REPLICAS) -> None:
        self._rng = rng
        self._replicas = [_Replica() for _ in range(replicas)]
        self._lock = threading.Lock()

    def handle(self, src: str, body: Mapping[str, Any]) -> dict[str, Any]:
        key = kv_key(body)
        with self._lock:
            source, target = (self._rng.choice(self._replicas) for _ in range(2))
            if source is not target:
                target.merge_from(source)
            replica = self._rng.choice(self._replicas)
            stamped = replica.values.get(key)
            value, reply = kv_step(MISSING if stamped is None else stamped[1], body)
            if reply["type"] in ("write_ok", "cas_ok"):
                replica.values[key] = (replica.clock, value)
                replica.clock += 1
        return reply


class LinTSO:
    """``lin-tso``: a timestamp oracle, 0, 1, 2 ... one per ``ts`` request."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def handle(self, src: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("type") != "ts":
            raise Refused(NOT_SUPPORTED, f"lin-tso serves ts, not {body.get('type')!r}")
        with self._lock:
            ts, self._next = self._next, self._next + 1
        return {"type": "ts_ok", "ts": ts}


class Services:
    """The services of one cluster, seeded by the run's seed."""

    def __init__(self, seed: int) -> None:
        def rng(name: str) -> random.Random:
            return random.Random(f"{seed}:{name}")

        self.by_id: dict[str, Service] = {
            "lin-kv": LinKV(),
            "seq-kv": SeqKV(rng("seq-kv")),
            "lww-kv": LwwKV(rng("lww-kv")),
            "lin-tso": LinTSO(),
        }
        self._latency_rng = rng("latency")
        self._latency = (0.0, 0.0)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.by_id

    def set_latency(self, latency: float, jitter: float = 0.0) -> None:
        """The network's baseline latency (seconds, ± jitter), which service traffic
        feels as Maelstrom's does."""
        self._latency = (max(0.0, latency), max(0.0, jitter))

    def delay(self) -> float:
        """How long an answer takes to reach its node: a latency draw for the request's leg
        and one for the reply's."""
        latency, jitter = self._latency
        if latency <= 0 and jitter <= 0:
            return 0.0
        return sum(max(0.0, latency + self._latency_rng.uniform(-jitter, jitter))
                   for _ in range(2))

    def answer(self, msg: Mapping[str, Any]) -> dict[str, Any] | None:
        """The reply message to ``msg``, a node's request to a service; None when ``msg``
        is itself a reply (``in_reply_to``): answering it could start an endless exchange
        of errors with a node that answers what it does not know (Maelstrom's services
        answer no reply either)."""
        service_id, src = str(msg.get("dest")), str(msg.get("src"))
        raw = msg.get("body")
        body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if body.get("in_reply_to") is not None:
            return None
        service = self.by_id[service_id]
        try:
            reply = service.handle(src, body)
        except Refused as exc:
            reply = error(exc.code, f"{service_id}: {exc}")
        reply["in_reply_to"] = body.get("msg_id")
        return {"src": service_id, "dest": src, "body": reply}
