"""A PBFT replica (Castro & Liskov, OSDI '99) of a key-value store.

Clients send ``request {op, client, timestamp, auth}`` to every replica; the primary of
the current view (``n{view mod n + 1}``) batches the requests it has into a pre-prepare
for the next sequence number; backups that accept it prepare; a replica with the
pre-prepare and 2f matching prepares has the request *prepared*, commits, and with 2f+1
matching commits has it *committed*; committed batches are executed in sequence order and
every replica answers the client with ``reply {view, timestamp, replica, result}``. The
client takes a result once f+1 replicas give the same one.

This module wires the parts together and speaks the client contract; each part is its
own module:

* :mod:`.ordering` — pre-prepare, prepare and commit, batching, watermarks, and execution
  in sequence order;
* :mod:`.checkpoints` — checkpoints, garbage collection of the log, and state transfer;
* :mod:`.view_change` — the view-change timer, view changes and new views;
* :mod:`.authentication` — well-formedness, signature and MAC checks, and the evidence
  kept against replicas;
* :mod:`.crypto`, :mod:`.statemachine`, :mod:`.byzantine` — signatures and digests, the
  store, and the misbehaviours.

The state the parts share — the view, the watermarks, the log of slots, the requests
waiting, the state machine — is the replica's; each part keeps the rest of its own.

What else the parts do, as in the paper:

* Watermarks: a pre-prepare is accepted only for a sequence number in ``(h, h + L]``, where
  ``h`` is the last stable checkpoint and ``L`` is ``log_size``.
* Checkpoints every ``checkpoint_interval`` sequence numbers: a checkpoint signed by 2f+1
  replicas for one state digest is stable, and the log below it is garbage-collected.
* View changes: a backup that waited ``view_change_timeout_ms`` for a request it has to
  be executed moves to the next view, sending its stable checkpoint's proof and a prepared
  certificate (the signed pre-prepare and 2f prepares) for every request prepared above it.
  The new primary, with 2f+1 view changes, re-proposes each certified request (the one of
  the highest view) and fills gaps with null requests; the backups check the new view by
  recomputing it. A view change that does not complete moves on to the next view, with the
  timeout doubled each time (reset by progress).
* State transfer: a replica that sees a stable checkpoint beyond what it executed (it fell
  behind, or restarted empty) fetches that checkpoint's state from a replica that signed it
  and checks it against the certified digest. A replica that sees f+1 replicas in a later
  view asks them for the new-view message that started it.

Authentication (:mod:`reference_nodes.pbft.crypto`): messages between replicas are signed
with Ed25519 and client requests carry MAC authenticators. A message that fails a check is
dropped, counted and logged; when it proves its sender faulty — a bad signature, two signed
messages that conflict for one slot, a digest that does not match, a request the client
never made, a pre-prepare outside the watermarks, the same signed message replayed, a
primary that stalls — the sender goes into ``suspects`` with the evidence.

Byzantine behaviours (:mod:`reference_nodes.pbft.byzantine`) are switched on with
``dchaos_byzantine {behavior}``.

Parameters (``dchaos.params``): ``batch_size`` (64), ``window`` (batches in flight, 2),
``pipeline_min`` (requests waiting before a batch goes out while another is in flight,
``batch_size`` / 4), ``checkpoint_interval`` (64), ``log_size`` (twice the interval),
``view_change_timeout_ms`` (500), ``state_timeout_ms`` (1000).

Behaviours that a variant — like the deliberately broken replicas the checkers are tested
against — changes are methods of the replica, and the parts call them through it:
``prepare_quorum``, ``commit_quorum``, ``reproposals``, ``suspect``, ``judge_conflict`` and
``tick``; ``start_view_change`` is there for a variant to call.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from reference_nodes.common.maelstrom import JSON, Message, Node, RPCError
from reference_nodes.pbft.authentication import (
    CHECKPOINT,
    COMMIT,
    NEW_VIEW,
    PREPARE,
    PREPREPARE,
    VIEW_CHANGE,
    Authentication,
    request_problem,
)
from reference_nodes.pbft.authentication import (
    PROOF_AGAINST_PRIMARY as PROOF_AGAINST_PRIMARY,  # variants import it from here
)
from reference_nodes.pbft.byzantine import BEHAVIOURS, Behaviour, parse_options
from reference_nodes.pbft.checkpoints import Checkpoints
from reference_nodes.pbft.crypto import KeyMaterialError, Keys
from reference_nodes.pbft.ordering import Ordering, Slot
from reference_nodes.pbft.statemachine import StateMachine
from reference_nodes.pbft.view_change import ViewChange, reproposals

log = logging.getLogger("reference_nodes.pbft")


@dataclass
class Waiting:
    """A client request this replica received and has not executed yet."""

    request: JSON
    message: Message
    since: float


class Replica:
    """One PBFT replica. ``Replica().run()`` serves stdin/stdout until end of file."""

    def __init__(self, runtime: Node | None = None) -> None:
        self.runtime = runtime or Node()
        self.runtime.on_init(self.setup)

    def run(self) -> int:
        return self.runtime.run()

    # -- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Read the parameters and keys, then build the parts, once ``init`` has said who is
        in the cluster."""
        runtime, params = self.runtime, self.runtime.params
        assert runtime.node_id is not None
        self.me = runtime.node_id
        self.replicas = list(runtime.node_ids)
        self.n = len(self.replicas)
        self.f = (self.n - 1) // 3
        self.batch_size = params.integer("batch_size", 64, minimum=1)
        self.window = params.integer("window", 2, minimum=1)
        self.pipeline_min = params.integer("pipeline_min", max(1, self.batch_size // 4),
                                           minimum=1)
        self.interval = params.integer("checkpoint_interval", 64, minimum=1)
        self.log_size = params.integer("log_size", 2 * self.interval, minimum=self.interval)
        self.vc_timeout = params.duration("view_change_timeout_ms", 500, minimum_ms=1)
        self.state_timeout = params.duration("state_timeout_ms", 1000, minimum_ms=1)
        material = self.runtime.dchaos.get("pbft")
        try:
            self.keys = Keys(self.me, material)
        except (KeyMaterialError, ValueError) as exc:
            raise RPCError.malformed(f"init: dchaos.pbft: {exc}") from None
        # The run's seed, with the keys: Byzantine behaviours draw their choices from it.
        seed = material.get("seed", 0) if isinstance(material, dict) else 0
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise RPCError.malformed("init: dchaos.pbft.seed must be an integer")
        self.behaviour = Behaviour("honest", {}, self.me, self.keys.sign, seed)
        self.seed = seed

        self.view = 0
        self.active = True  # False from the start of a view change to its new view
        self.seq = 0  # the last sequence number this replica assigned as primary
        self.low = 0  # h: the last stable checkpoint
        self.last_exec = 0
        self.slots: dict[int, Slot] = {}
        #: seq -> the prepared certificate of the highest view: {"pp": .., "prepares": [..]}
        self.certs: dict[int, JSON] = {}
        self.sm = StateMachine()
        self.waiting: dict[str, Waiting] = {}
        self.queue: OrderedDict[tuple[str, int], JSON] = OrderedDict()
        self.proposed: set[tuple[str, int]] = set()
        # What dchaos_state reports.
        self.committed: list[list[Any]] = []
        self.counters: dict[str, int] = {}

        self.auth = Authentication(self)
        self.ordering = Ordering(self)
        self.checkpoints = Checkpoints(self)
        self.view_change = ViewChange(self)
        runtime.on_many({
            "request": self.on_request, PREPREPARE: self.ordering.on_preprepare,
            PREPARE: self.ordering.on_prepare, COMMIT: self.ordering.on_commit,
            CHECKPOINT: self.checkpoints.on_checkpoint,
            VIEW_CHANGE: self.view_change.on_view_change,
            NEW_VIEW: self.view_change.on_new_view,
            "pbft_get_state": self.checkpoints.on_get_state,
            "pbft_get_new_view": self.view_change.on_get_new_view,
            "dchaos_state": self.on_dchaos_state, "dchaos_byzantine": self.on_byzantine,
        })
        runtime.declare_extensions("dchaos_state", "dchaos_byzantine")
        runtime.every(lambda: self.vc_timeout / 5, self.tick, jitter=0.0)
        if not self.keys.enabled:
            log.warning("no keys in init (dchaos.pbft): messages are neither signed nor "
                        "checked, and Byzantine replicas cannot be told apart")

    # -- small helpers ---------------------------------------------------------------------

    def primary(self, view: int | None = None) -> str:
        return self.replicas[(self.view if view is None else view) % self.n]

    @property
    def quorum(self) -> int:
        """2f+1: any two such sets share an honest replica."""
        return 2 * self.f + 1

    @property
    def prepare_quorum(self) -> int:
        """Matching prepares from backups that, with the pre-prepare, make a certificate."""
        return 2 * self.f

    @property
    def commit_quorum(self) -> int:
        return self.quorum

    def count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    def reject(self, what: str, src: str, detail: str) -> None:
        """A message dropped for ``what``: counted and logged, never raised."""
        self.count(what)
        log.info("dropped a message from %s (%s): %s", src, what, detail)

    def send(self, dests: list[str], body: JSON, batch: list[JSON] | None = None) -> None:
        """Send ``body`` to each of ``dests``, as this replica's behaviour has it; what goes
        out unchanged and at once is encoded once for all. ``batch``: what a prepare or
        commit is about (for Byzantine behaviours)."""
        unchanged: list[str] = []
        for dest in dests:
            for to, out, delay in self.behaviour.outgoing(dest, body, self.replicas, batch):
                if delay > 0:
                    self.runtime.after(delay, functools.partial(self.runtime.send, to, out))
                elif out is body:
                    unchanged.append(to)
                else:
                    # What a behaviour sends in place of the body keeps its order.
                    self.runtime.send_all(unchanged, body)
                    unchanged = []
                    self.runtime.send(to, out)
        self.runtime.send_all(unchanged, body)

    def broadcast(self, body: JSON, batch: list[JSON] | None = None) -> JSON:
        """Sign ``body`` and send it to every other replica; returns the signed body."""
        signed = self.keys.sign(body)
        self.send([peer for peer in self.replicas if peer != self.me], signed, batch)
        return signed

    # -- behaviours a variant changes ------------------------------------------------------

    #: The batches a new view must carry (:func:`.view_change.reproposals`).
    reproposals = staticmethod(reproposals)

    def suspect(self, node: str, kind: str, detail: str, proof: Any = None) -> None:
        """Evidence that ``node`` is faulty (see :meth:`.Authentication.suspect`)."""
        self.auth.suspect(node, kind, detail, proof)

    def judge_conflict(self, sender: str, body: JSON, slot: Slot) -> None:
        """Who lied about ``slot``'s digest (see :meth:`.Authentication.judge_conflict`)."""
        self.auth.judge_conflict(sender, body, slot)

    def tick(self) -> None:
        """The view-change timer, every fifth of its timeout."""
        self.view_change.tick()

    def start_view_change(self, view: int) -> None:
        """Move to ``view`` now: for a variant (the parts ask the view-change part)."""
        self.view_change.start_view_change(view)

    # -- client requests -------------------------------------------------------------------

    def on_request(self, msg: Message) -> JSON | None:
        request = msg.body
        problem = request_problem(request)
        if problem:
            self.count("malformed_requests")
            raise RPCError.malformed(f"request: {problem}")
        if not self.keys.authentic_request(request):
            self.reject("bad_request_auth", msg.src, f"request {request.get('timestamp')} of "
                        f"{request.get('client')} with a MAC that does not verify")
            return None
        client, timestamp = request["client"], request["timestamp"]
        last = self.sm.last_timestamp(client)
        if timestamp < last:
            return None  # superseded; the client has moved on
        if timestamp == last:
            self.reply_to_client(msg, timestamp, self.sm.cached_result(client, timestamp))
            return None
        self.waiting[client] = Waiting(request, msg, self.runtime.now())
        if self.me == self.primary() and self.active:
            if (client, timestamp) not in self.proposed:
                self.queue[(client, timestamp)] = request
                self.ordering.schedule_flush()
        elif self.view_change.timer is None:
            self.view_change.start_timer(client, timestamp)
        return None

    def reply_to_client(self, msg: Message, timestamp: int, result: Any) -> None:
        body = {"type": "reply", "view": self.view, "timestamp": timestamp,
                "replica": self.me, "result": result}
        if self.behaviour.to_client(body):
            self.runtime.reply(msg, body)

    # -- the harness's questions -----------------------------------------------------------

    def on_dchaos_state(self, msg: Message) -> JSON:
        return {"type": "dchaos_state_ok", "view": self.view,
                "committed": self.committed, "suspects": sorted(self.auth.suspects),
                "stable_checkpoint": self.low, "last_executed": self.last_exec,
                "primary": self.primary(), "in_view_change": not self.active,
                "views": self.view_change.views, "evidence": self.auth.suspects,
                "evidence_counts": self.auth.evidence_count, "counters": self.counters,
                "transfers": self.checkpoints.transfers, "byzantine": self.behaviour.name,
                "altered": self.behaviour.altered}

    def on_byzantine(self, msg: Message) -> JSON:
        behaviour = msg.body.get("behavior")
        if behaviour not in BEHAVIOURS:
            raise RPCError.malformed(f"dchaos_byzantine: behavior must be one of "
                                     f"{', '.join(BEHAVIOURS)}, not {behaviour!r}")
        self.behaviour = Behaviour(behaviour, parse_options(msg.body), self.me, self.keys.sign,
                                   self.seed)
        log.warning("now behaving: %s", behaviour)
        return {"type": "dchaos_byzantine_ok", "behavior": behaviour}


def main() -> int:
    return Replica().run()
