"""The PBFT family's clients (Castro & Liskov §4.1) and the keys the harness hands out.

Each request goes to every replica with a MAC authenticator; a result is taken once f+1
replicas agree on it. Every reply that comes until then is recorded (:class:`ReplyLog`, one
per cluster): the checks hold what replicas report about themselves against it. The keys
(each replica's Ed25519 pair, every client's MAC key with each replica) are drawn from the
run's seed, so a rerun uses the same keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pytest_dchaos.checkers.linearizability import RegisterDraws
from pytest_dchaos.cluster.running import Cluster, Multicast
from pytest_dchaos.cluster.timers import Timer
from pytest_dchaos.errors import NodeDown
from pytest_dchaos.families.base import Workload
from pytest_dchaos.families.pbft.observations import Replies, Reply
from pytest_dchaos.families.pbft.quorums import max_faulty
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome
from pytest_dchaos.scenario.model import Scenario

#: Results the store gives for a request that certainly did nothing (key missing, cas
#: precondition failed) and that a read answers with.
DEFINITE = frozenset({20, 22})


def replica_key(seed: int, node: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"dchaos-pbft-replica:{seed}:{node}".encode()).digest())


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def private_hex(seed: int, node: str) -> str:
    return hashlib.sha256(f"dchaos-pbft-replica:{seed}:{node}".encode()).hexdigest()


#: A client's MAC for a replica is HMAC-SHA256 cut to 16 bytes (RFC 4868), as
#: docs/nodes/pbft.md has it.
MAC_HEX_DIGITS = 32


def mac_key(seed: int, client: str, node: str) -> bytes:
    return hashlib.sha256(f"dchaos-pbft-mac:{seed}:{client}:{node}".encode()).digest()


def client_ids(scenario: Scenario) -> list[str]:
    """The workload's clients, plus one for the final phase's probes."""
    return [f"c{i}" for i in range(1, scenario.workload.clients + 2)]


def key_material(seed: int, node: str, nodes: tuple[str, ...],
                 clients: list[str]) -> dict[str, Any]:
    return {"private": private_hex(seed, node),
            "public": {n: public_hex(replica_key(seed, n)) for n in nodes},
            "client_keys": {c: mac_key(seed, c, node).hex() for c in clients},
            "seed": seed}


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode()


#: A reply as the client's path records it, untouched but for its result's canonical form:
#: (epoch time, client, timestamp, op, member, body type, view, result, reply timestamp).
#: :meth:`ReplyLog.replies` makes :class:`Reply` s of them once the run is over.
RawReply = tuple[float, str, int, Any, str, str, Any, bytes, Any]


class ReplyLog:
    """Every reply the harness's PBFT clients received from one cluster.

    Appended on the agents' reader threads, one tuple per reply and nothing more on that
    path (a list's append needs no lock); read once, after the run.
    """

    def __init__(self) -> None:
        self.raw: list[RawReply] = []

    def current_view(self, quorum: int, identity: Callable[[str], str]) -> int:
        """The highest view in which ``quorum`` (f+1) distinct replicas have replied so far:
        at least one of them honest, so the cluster has been in that view. 0 before any
        (every replica starts in view 0). Safe to call while replies arrive."""
        seen: dict[int, set[str]] = {}
        best = 0
        for _, _, _, _, member, kind, view, _, _ in list(self.raw):
            if kind != "reply" or not isinstance(view, int) or isinstance(view, bool) \
                    or view <= best:
                continue
            voters = seen.setdefault(view, set())
            voters.add(identity(member))
            if len(voters) >= quorum:
                best = view
        return best

    def replies(self, t0: float, identity: Callable[[str], str]) -> Replies:
        """The replies in arrival order, times on the run's clock (``t0``, the history's
        start), each member named with the node id it speaks as (``identity``)."""
        out = []
        for at, client, timestamp, op, member, kind, view, result, replied in list(self.raw):
            out.append(Reply(
                at - t0, client, timestamp, op, member, identity(member),
                "reply" if kind == "reply" else "error",
                view if isinstance(view, int) and not isinstance(view, bool) else None,
                result.decode(), replied))
        out.sort(key=lambda reply: reply.at)
        return Replies(tuple(out))


class QuorumRequest:
    """One client request sent to every replica; done when f+1 replicas gave one result.

    Replicas' answers are matched on (timestamp, result); an error answer counts like a
    result (f+1 replicas saying "malformed" settle it too). Until it is settled, the request
    goes to every replica again each ``retry`` (on the cluster's timers), as a PBFT client
    does.
    """

    def __init__(self, cluster: Cluster, client: str, body: dict[str, Any],
                 nodes: tuple[str, ...], retry: float, replies: ReplyLog | None = None
                 ) -> None:
        self.cluster, self.client, self.body = cluster, client, body
        self.nodes, self.retry, self.replies = nodes, retry, replies
        self.needed = max_faulty(len(nodes)) + 1
        # Settled once: the result, or the reason there is none. Waiters block on a held
        # lock that settling releases — the cheapest wake-up between threads.
        self._outcome: dict[str, Any] | BaseException | None = None
        self._settled = threading.Lock()
        self._settled.acquire()
        self._callbacks: list[Callable[[QuorumRequest], None]] = []
        self._retry: Timer | None = None
        self._stopped = False  # settled or abandoned: no more retransmissions
        self.sent: list[Multicast] = []
        self.votes: dict[bytes, set[str]] = defaultdict(set)
        self._lock = threading.Lock()
        self._send()

    def _send(self) -> None:
        if self._stopped:
            return
        sending = self.cluster.multicast(self.nodes, self.body, client=self.client,
                                         on_reply=self._answered)
        with self._lock:
            late = self._stopped  # abandoned while this copy went out
            if not late:
                self.sent.append(sending)
                if sending.reached:
                    self._retry = self.cluster.timers.call_later(self.retry, self._send,
                                                                 coarse=True)
        if late:
            sending.abandon(self.cluster)
            return
        if not sending.reached:
            self._settle(NodeDown("no replica could be reached"))

    def _answered(self, node: str, reply: dict[str, Any]) -> None:
        kind = reply.get("type")
        if kind == "reply":
            answer = reply.get("result")
        elif kind == "error":
            answer = {"type": "error", "code": reply.get("code")}
        else:
            return
        key = canonical(answer)
        body = self.body
        if self.replies is not None:
            self.replies.raw.append((time.time(), self.client, body["timestamp"], body["op"],
                                     node, kind, reply.get("view"), key,
                                     reply.get("timestamp")))
        if kind == "reply" and reply.get("timestamp") != body["timestamp"]:
            return  # an answer to another of the client's requests
        with self._lock:
            # By node id: a Byzantine twin and its original are one replica, one vote.
            voters = self.votes[key]
            voters.add(self.cluster.plan.identity(node))
            if len(voters) < self.needed:
                return
            replicas = sorted(voters)
        settled = answer if isinstance(answer, dict) else {"type": "?", "value": answer}
        # The replies still to come change nothing.
        self._settle({**settled, "replicas": replicas}, abandon=True)

    def _settle(self, outcome: dict[str, Any] | BaseException, abandon: bool = False) -> None:
        with self._lock:
            if self._outcome is not None:
                return
            self._outcome = outcome
            self._stopped = True
            callbacks, self._callbacks = self._callbacks, []
            if self._retry is not None:
                self._retry.cancel()
        if abandon:
            self.abandon(self.cluster)
        self._settled.release()
        for callback in callbacks:
            callback(self)

    def add_done_callback(self, fn: Callable[[QuorumRequest], None]) -> None:
        """Call ``fn(self)`` once settled (at once, if it is already)."""
        with self._lock:
            if self._outcome is None:
                self._callbacks.append(fn)
                return
        fn(self)

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        if not self._settled.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise FutureTimeout
        self._settled.release()  # settled for good: later callers pass too
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def abandon(self, cluster: Cluster) -> None:
        """Stop listening and retransmitting (the outcome, if any, stays)."""
        with self._lock:
            self._stopped = True
            sent = list(self.sent)
            if self._retry is not None:
                self._retry.cancel()
        for sending in sent:
            sending.abandon(cluster)


class PbftWorkload(Workload):
    """Reads, writes and compare-and-sets over ``keys`` keys."""

    to_every_node = True

    def __init__(self, keys: int, read_ratio: float, cas_ratio: float, retry: float,
                 seed: int) -> None:
        self.keys, self.read_ratio, self.cas_ratio = keys, read_ratio, cas_ratio
        self.retry, self.seed = retry, seed
        self._timestamps: dict[str, int] = {}
        self._mac_keys: dict[tuple[str, str], bytes] = {}
        #: Every reply its requests received; a workload made for the final phase is handed
        #: the run's, so the run keeps one record.
        self.replies = ReplyLog()
        self._draws = RegisterDraws(keys, read_ratio, cas_ratio)
        self._lock = threading.Lock()  # the clients' timestamps

    def next_op(self, rng: Any) -> tuple[str, Any]:
        return self._draws.draw(rng)

    def bind(self, node: str, f: str, value: Any, nodes: tuple[str, ...], client: str) -> Any:
        with self._lock:
            timestamp = self._timestamps[client] = self._timestamps.get(client, 0) + 1
        return {**value, "client": client, "timestamp": timestamp}

    def request(self, f: str, value: Any) -> dict[str, Any]:
        op = {"f": f, **{k: v for k, v in value.items() if k not in ("client", "timestamp")}}
        request = {"type": "request", "op": op, "client": value["client"],
                   "timestamp": value["timestamp"]}
        return request

    def authenticated(self, request: dict[str, Any], nodes: tuple[str, ...]) -> dict[str, Any]:
        core = canonical({"client": request["client"], "timestamp": request["timestamp"],
                          "op": request["op"]})
        client = request["client"]
        auth = {n: hmac.new(self.mac_key(client, n), core,
                            hashlib.sha256).hexdigest()[:MAC_HEX_DIGITS] for n in nodes}
        return {**request, "auth": auth}

    def mac_key(self, client: str, node: str) -> bytes:
        key = self._mac_keys.get((client, node))
        if key is None:
            key = self._mac_keys[(client, node)] = mac_key(self.seed, client, node)
        return key

    def submit(self, cluster: Cluster, client: str, node: str, f: str,
               value: Any) -> QuorumRequest:
        nodes = cluster.node_ids
        body = self.authenticated(self.request(f, value), nodes)
        return QuorumRequest(cluster, client, body, nodes, self.retry, self.replies)

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        kind = reply.get("type")
        if f == "read" and kind == "read_ok":
            return OK, {**value, "value": reply.get("value")}
        if kind == f"{f}_ok":
            return OK, value
        return INFO, value

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        return FAIL if code in DEFINITE or code == 12 or f == "read" else INFO

    def timeout_outcome(self, f: str) -> Outcome:
        return FAIL if f == "read" else INFO
