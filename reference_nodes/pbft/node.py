"""A PBFT replica (Castro & Liskov, OSDI '99) of a key-value store.

Clients send ``request {op, client, timestamp, auth}`` to every replica; the primary of
the current view (``n{view mod n + 1}``) batches the requests it has into a pre-prepare
for the next sequence number; backups that accept it prepare; a replica with the
pre-prepare and 2f matching prepares has the request *prepared*, commits, and with 2f+1
matching commits has it *committed*; committed batches are executed in sequence order and
every replica answers the client with ``reply {view, timestamp, replica, result}``. The
client takes a result once f+1 replicas give the same one.

What else is here, as in the paper:

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
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from reference_nodes.common.maelstrom import JSON, Message, Node, RPCError
from reference_nodes.pbft.byzantine import BEHAVIOURS, Behaviour, parse_options
from reference_nodes.pbft.crypto import (
    KeyMaterialError,
    Keys,
    batch_digest,
    batch_order,
    request_core,
    signed_part,
)
from reference_nodes.pbft.statemachine import StateMachine, check_op, state_digest

log = logging.getLogger("reference_nodes.pbft")

PREPREPARE, PREPARE, COMMIT = "pbft_preprepare", "pbft_prepare", "pbft_commit"
CHECKPOINT, VIEW_CHANGE, NEW_VIEW = "pbft_checkpoint", "pbft_view_change", "pbft_new_view"
#: Evidence kept per suspect (the first ones; later ones are only counted).
EVIDENCE_KEPT = 5
#: Evidence that proves the primary faulty, so that waiting for its requests is pointless.
PROOF_AGAINST_PRIMARY = frozenset({"equivocation", "bad_digest", "invented_request",
                                   "bad_signature", "out_of_order"})
#: Times one signed message may arrive before it counts as a replay.
REPLAY_THRESHOLD = 3


@dataclass
class Slot:
    """One sequence number in the current view."""

    seq: int
    view: int
    preprepare: JSON | None = None
    prepares: dict[str, JSON] = field(default_factory=dict)
    commits: dict[str, JSON] = field(default_factory=dict)
    prepared: bool = False
    committed: bool = False

    @property
    def digest(self) -> str | None:
        return self.preprepare["digest"] if self.preprepare else None


@dataclass
class Waiting:
    """A client request this replica received and has not executed yet."""

    request: JSON
    message: Message
    since: float


_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    PREPREPARE: {"view": int, "seq": int, "digest": str, "replica": str, "batch": list},
    PREPARE: {"view": int, "seq": int, "digest": str, "replica": str},
    COMMIT: {"view": int, "seq": int, "digest": str, "replica": str},
    CHECKPOINT: {"seq": int, "state_digest": str, "replica": str},
    VIEW_CHANGE: {"view": int, "stable": int, "proof": list, "prepared": list, "replica": str},
    NEW_VIEW: {"view": int, "view_changes": list, "preprepares": list, "replica": str},
}


def well_formed(body: Any, kind: str) -> bool:
    if not isinstance(body, dict) or body.get("type") != kind:
        return False
    for name, expected in _FIELDS[kind].items():
        value = body.get(name)
        if not isinstance(value, expected) or isinstance(value, bool):
            return False
    return all(body[k] >= 0 for k in ("view", "seq", "stable") if k in body)


class Replica:
    def __init__(self, runtime: Node | None = None) -> None:
        self.runtime = runtime or Node()
        self.runtime.on_many({
            "request": self.on_request, PREPREPARE: self.on_preprepare,
            PREPARE: self.on_prepare, COMMIT: self.on_commit, CHECKPOINT: self.on_checkpoint,
            VIEW_CHANGE: self.on_view_change, NEW_VIEW: self.on_new_view,
            "pbft_get_state": self.on_get_state, "pbft_get_new_view": self.on_get_new_view,
            "dchaos_state": self.on_dchaos_state, "dchaos_byzantine": self.on_byzantine,
        })
        self.runtime.on_init(self.setup)

    def run(self) -> int:
        return self.runtime.run()

    # -- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
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
        self.checkpoints: dict[int, dict[str, JSON]] = {}
        self.snapshots: dict[int, tuple[str, JSON]] = {0: (self.sm.digest(), self.sm.snapshot())}
        self.stable_proof: list[JSON] = []
        self.waiting: dict[str, Waiting] = {}
        self.queue: OrderedDict[tuple[str, int], JSON] = OrderedDict()
        self.proposed: set[tuple[str, int]] = set()
        self.view_changes: dict[int, dict[str, JSON]] = {}
        self.new_views: dict[int, JSON] = {}
        self.higher_views: dict[str, int] = {}
        self.vc_started = 0.0
        self.vc_attempts = 0
        self.timer: tuple[str, int] | None = None
        self.timer_since = 0.0
        self.transferring = False
        #: Replicas seen working above this one's high watermark: it is the one behind.
        self.ahead: set[str] = set()
        self.asked_new_view = 0.0
        self.flush_scheduled = False
        self.seen_sigs: OrderedDict[str, int] = OrderedDict()
        self.verified: OrderedDict[tuple[str, str, bytes], bool] = OrderedDict()
        # What dchaos_state reports.
        self.committed: list[list[Any]] = []
        self.suspects: dict[str, list[JSON]] = {}
        self.evidence_count: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self.views: list[list[Any]] = [[0, time.time()]]
        self.transfers: list[list[Any]] = []
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

    def suspect(self, node: str, kind: str, detail: str, proof: Any = None) -> None:
        if node == self.me or node not in self.replicas:
            return
        self.count(f"evidence_{kind}")
        self.evidence_count[node] = self.evidence_count.get(node, 0) + 1
        entries = self.suspects.setdefault(node, [])
        if len(entries) < EVIDENCE_KEPT:
            entries.append({"kind": kind, "detail": detail, "at": time.time(),
                            **({"proof": proof} if proof is not None else {})})
        if len(entries) == 1 and self.evidence_count[node] == 1:
            log.warning("suspect %s: %s: %s", node, kind, detail)
        if node == self.primary() and self.active and kind in PROOF_AGAINST_PRIMARY \
                and self.behaviour.honest:
            # Proof in hand that the primary lies: no reason to wait for the timer. (A
            # Byzantine replica does not denounce a primary it may be colluding with.)
            self.start_view_change(self.view + 1)

    def verify(self, signer: str, body: JSON) -> bool:
        """Is ``body`` signed by ``signer``? Remembered, since certificates repeat bodies."""
        sig, part = body.get("sig"), signed_part(body)
        # Keyed by what was signed too: a lie may reuse a real signature on other content.
        key = (signer, sig, part) if isinstance(sig, str) else None
        if key is not None and key in self.verified:
            return self.verified[key]
        ok = self.keys.verify_part(signer, sig, part)
        if key is not None:
            self.verified[key] = ok
            if len(self.verified) > 20000:
                self.verified.popitem(last=False)
        return ok

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

    def authenticate(self, msg: Message, kind: str) -> JSON | None:
        """The body of a replica's message if it is well formed, comes from the replica it
        names and carries that replica's signature; None (counted, maybe suspected) if not."""
        body = msg.body
        if not well_formed(body, kind):
            self.reject("malformed", msg.src, f"{kind} with missing or ill-typed fields")
            return None
        sender = body["replica"]
        if sender not in self.replicas or sender != msg.src:
            self.reject("malformed", msg.src, f"{kind} names replica {sender!r}")
            return None
        if not self.verify(sender, body):
            self.reject("bad_signature", msg.src, kind)
            self.suspect(sender, "bad_signature", f"{kind} with a signature that does not "
                         f"verify", _header(body))
            return None
        sig = str(body.get("sig", ""))
        if sig:
            times = self.arrived(sig)
            if times > 1:
                self.count("duplicates")
                # Honest replicas send a normal-case message once; view changes and
                # checkpoints may be sent again on purpose.
                if times == REPLAY_THRESHOLD and kind in (PREPREPARE, PREPARE, COMMIT):
                    self.suspect(sender, "replay", f"the same signed {kind} received "
                                 f"{times} times", _header(body))
                return None
        return body

    # -- client requests -------------------------------------------------------------------

    def on_request(self, msg: Message) -> JSON | None:
        request = msg.body
        problem = _request_problem(request)
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
                self.schedule_flush()
        elif self.timer is None:
            self.start_timer(client, timestamp)
        return None

    def reply_to_client(self, msg: Message, timestamp: int, result: Any) -> None:
        body = {"type": "reply", "view": self.view, "timestamp": timestamp,
                "replica": self.me, "result": result}
        if self.behaviour.to_client(body):
            self.runtime.reply(msg, body)

    def schedule_flush(self) -> None:
        # Requests that arrive together (one read from stdin) go out in one batch.
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.runtime.loop.call_soon(self.flush)

    def flush(self) -> None:
        """As primary: pre-prepare queued requests while the window and watermarks allow."""
        self.flush_scheduled = False
        if self.me != self.primary() or not self.active:
            return
        while self.queue and self.seq + 1 <= self.low + self.log_size \
                and self.may_propose(self.seq - self.last_exec):
            batch: list[JSON] = []
            while self.queue and len(batch) < self.batch_size:
                key, request = self.queue.popitem(last=False)
                if request["timestamp"] > self.sm.last_timestamp(key[0]):
                    batch.append(request)
                    self.proposed.add(key)
            if not batch:
                break
            batch.sort(key=batch_order)
            self.seq += 1
            body = self.broadcast({"type": PREPREPARE, "view": self.view, "seq": self.seq,
                                   "digest": self.keys.batch_digest(batch),
                                   "replica": self.me, "batch": batch})
            self.accept_preprepare(body)

    def may_propose(self, in_flight: int) -> bool:
        """Whether to pre-prepare another batch now, with ``in_flight`` not yet executed.

        The pipeline is idle: yes. Otherwise only for a batch worth its cost — each costs
        every replica several signatures — up to ``window`` in flight: a few requests wait
        for the batch in flight to finish and go out together in the next.
        """
        if in_flight == 0:
            return True
        return in_flight < self.window and len(self.queue) >= self.pipeline_min

    # -- normal case -----------------------------------------------------------------------

    def in_window(self, seq: int) -> bool:
        return self.low < seq <= self.low + self.log_size

    def note_ahead(self, body: JSON) -> None:
        if body["seq"] > self.low + self.log_size:
            self.ahead.add(body["replica"])

    @property
    def behind(self) -> bool:
        """f+1 replicas work above this one's watermarks: it missed checkpoints and waits
        for state transfer; its requests are not executed, but not by the primary's fault."""
        return len(self.ahead) >= self.f + 1

    def current(self, body: JSON, src: str) -> bool:
        """Is a normal-case message for this view (and are we in it)? Notes later views."""
        if body["view"] > self.view:
            self.note_higher_view(src, body["view"])
        return body["view"] == self.view and self.active

    def on_preprepare(self, msg: Message) -> None:
        body = self.authenticate(msg, PREPREPARE)
        if body is None or not self.current(body, msg.src):
            return
        sender, seq = body["replica"], body["seq"]
        if sender != self.primary():
            self.suspect(sender, "not_primary", f"pre-prepare for view {body['view']}, whose "
                         f"primary is {self.primary()}", _header(body))
            return
        if not self.in_window(seq):
            if seq > self.low + self.log_size:
                self.reject("out_of_window", msg.src, f"pre-prepare {seq} above the high "
                            f"watermark {self.low + self.log_size}")
                if seq > self.low + 2 * self.log_size:
                    self.suspect(sender, "out_of_order", f"pre-prepare {seq} far above the "
                                 f"watermarks ({self.low}, {self.low + self.log_size}]",
                                 _header(body))
            return
        for request in body["batch"]:
            if self.keys.known_request(request):
                continue  # checked, form and MAC, when its client sent it
            problem = _request_problem(request)
            if problem or not self.keys.authentic_request(request):
                self.suspect(sender, "invented_request", f"pre-prepare {seq} holds a request "
                             f"its client did not make ({problem or 'bad MAC'})",
                             _header(body))
                return
        if self.keys.batch_digest(body["batch"]) != body["digest"]:
            self.suspect(sender, "bad_digest", f"pre-prepare {seq}: the batch does not "
                         "match its digest", _header(body))
            return
        slot = self.slots.get(seq)
        if slot is not None and slot.view == self.view and slot.preprepare is not None:
            if slot.digest != body["digest"]:
                self.suspect(sender, "equivocation", f"two pre-prepares for view "
                             f"{self.view}, seq {seq}", [_header(slot.preprepare),
                                                          _header(body)])
            return
        self.accept_preprepare(body)
        if self.me != sender:
            self.check_prepares(self.slots[seq])
            mine = self.broadcast({"type": PREPARE, "view": self.view, "seq": seq,
                                   "digest": body["digest"], "replica": self.me,
                                   "pp_sig": body.get("sig")}, body["batch"])
            self.slots[seq].prepares[self.me] = mine
        self.maybe_prepared(self.slots[seq])

    def accept_preprepare(self, body: JSON) -> None:
        seq = body["seq"]
        slot = self.slots.get(seq)
        if slot is None or slot.view != body["view"]:
            slot = self.slots[seq] = Slot(seq, body["view"])
        slot.preprepare = body
        for request in body["batch"]:
            self.proposed.add((request["client"], request["timestamp"]))

    def slot_for(self, body: JSON) -> Slot:
        seq = body["seq"]
        slot = self.slots.get(seq)
        if slot is None or slot.view != body["view"]:
            slot = self.slots[seq] = Slot(seq, body["view"])
        return slot

    def check_prepares(self, slot: Slot) -> None:
        """With the pre-prepare known, prepares that named another digest are lies: the
        primary's signature they carry says which of the two lied."""
        for sender, prepare in list(slot.prepares.items()):
            if prepare["digest"] != slot.digest:
                del slot.prepares[sender]
                self.judge_conflict(sender, prepare, slot)

    def judge_conflict(self, sender: str, body: JSON, slot: Slot) -> None:
        assert slot.preprepare is not None
        primary = slot.preprepare["replica"]
        claimed = {"type": PREPREPARE, "view": body["view"], "seq": body["seq"],
                   "digest": body["digest"], "replica": primary, "sig": body.get("pp_sig")}
        if body.get("pp_sig") and self.verify(primary, claimed):
            self.suspect(primary, "equivocation", f"pre-prepared two digests for view "
                         f"{body['view']}, seq {body['seq']} (one shown by {sender})",
                         [_header(slot.preprepare), _header(claimed)])
        else:
            self.suspect(sender, "bad_digest", f"{body['type']} for seq {body['seq']} of a "
                         "digest the primary never pre-prepared", _header(body))

    def arrived(self, sig: str) -> int:
        """How many times the message with this signature has come, this time included."""
        times = self.seen_sigs.get(sig, 0) + 1
        self.seen_sigs[sig] = times
        if len(self.seen_sigs) > 20000:
            self.seen_sigs.popitem(last=False)
        return times

    def agreeing_late_vote(self, msg: Message, kind: str) -> bool:
        """A prepare or commit that agrees with a slot whose quorum is already in changes
        nothing: it is dropped with its signature unchecked (a third of all checks at
        n = 4). One that disagrees, or repeats an earlier message, takes the checked path,
        since it may be evidence."""
        body = msg.body
        if not self.active or not well_formed(body, kind) or body["replica"] != msg.src \
                or body["view"] != self.view:
            return False
        slot = self.slots.get(body["seq"])
        if slot is None or slot.view != self.view or body["digest"] != slot.digest \
                or not (slot.prepared if kind == PREPARE else slot.committed):
            return False
        sig = body.get("sig")
        if not isinstance(sig, str) or sig in self.seen_sigs:
            return False
        self.arrived(sig)  # a replayed copy is counted, and checked, as before
        self.count("late_votes_unchecked")
        return True

    def on_prepare(self, msg: Message) -> None:
        if self.agreeing_late_vote(msg, PREPARE):
            return
        body = self.authenticate(msg, PREPARE)
        if body is None or not self.current(body, msg.src):
            return
        if not self.in_window(body["seq"]):
            self.note_ahead(body)
            return
        sender = body["replica"]
        if sender == self.primary():
            self.suspect(sender, "out_of_order", "the primary sent a prepare", _header(body))
            return
        slot = self.slot_for(body)
        if self.take_vote(slot, slot.prepares, body):
            self.maybe_prepared(slot)

    def take_vote(self, slot: Slot, votes: dict[str, JSON], body: JSON) -> bool:
        """Record a prepare or commit in ``votes``, unless it repeats or contradicts what
        its sender or the primary said for this slot (then it is judged instead)."""
        sender = body["replica"]
        known = votes.get(sender)
        if known is not None:
            if known["digest"] != body["digest"]:
                word = "prepares" if body["type"] == PREPARE else "commits"
                self.suspect(sender, "equivocation", f"two {word} for view {body['view']}, "
                             f"seq {body['seq']}", [_header(known), _header(body)])
            return False
        if slot.preprepare is not None and body["digest"] != slot.digest:
            self.judge_conflict(sender, body, slot)
            return False
        votes[sender] = body
        return True

    def maybe_prepared(self, slot: Slot) -> None:
        if slot.prepared or slot.preprepare is None:
            return
        matching = [p for r, p in slot.prepares.items()
                    if p["digest"] == slot.digest and r != slot.preprepare["replica"]]
        if len(matching) < self.prepare_quorum:
            return
        slot.prepared = True
        self.certs[slot.seq] = {"pp": slot.preprepare,
                                "prepares": matching[:max(self.prepare_quorum, 2 * self.f)]}
        mine = self.broadcast({"type": COMMIT, "view": slot.view, "seq": slot.seq,
                               "digest": slot.digest, "replica": self.me,
                               "pp_sig": slot.preprepare.get("sig")}, slot.preprepare["batch"])
        slot.commits[self.me] = mine
        self.maybe_committed(slot)

    def on_commit(self, msg: Message) -> None:
        if self.agreeing_late_vote(msg, COMMIT):
            return
        body = self.authenticate(msg, COMMIT)
        if body is None or not self.current(body, msg.src):
            return
        if not self.in_window(body["seq"]):
            self.note_ahead(body)
            return
        slot = self.slot_for(body)
        if self.take_vote(slot, slot.commits, body):
            self.maybe_committed(slot)

    def maybe_committed(self, slot: Slot) -> None:
        if slot.committed or not slot.prepared:
            return
        if sum(1 for c in slot.commits.values()
               if c["digest"] == slot.digest) < self.commit_quorum:
            return
        slot.committed = True
        self.execute_ready()

    # -- execution and checkpoints ---------------------------------------------------------

    def execute_ready(self) -> None:
        progressed = False
        while True:
            slot = self.slots.get(self.last_exec + 1)
            if slot is None or not slot.committed or slot.preprepare is None:
                break
            self.execute(slot)
            progressed = True
        if progressed:
            self.vc_attempts = 0
            self.after_progress()

    def execute(self, slot: Slot) -> None:
        assert slot.preprepare is not None
        batch, digest = slot.preprepare["batch"], slot.preprepare["digest"]
        if not batch:
            self.committed.append([slot.seq, digest, None])
        for request in batch:
            client, timestamp = request["client"], request["timestamp"]
            self.committed.append([slot.seq, digest, request_core(request)])
            result = self.sm.execute(request)
            self.proposed.discard((client, timestamp))
            waiting = self.waiting.get(client)
            if waiting is not None and waiting.request["timestamp"] <= timestamp:
                del self.waiting[client]
                if result is not None and waiting.request["timestamp"] == timestamp:
                    self.reply_to_client(waiting.message, timestamp, result)
        self.last_exec = slot.seq
        if slot.seq % self.interval == 0:
            self.take_checkpoint(slot.seq)

    def after_progress(self) -> None:
        """Executions happened: re-arm or stop the view-change timer; propose more."""
        if self.me == self.primary():
            self.schedule_flush()
            return
        if self.timer is not None:
            waiting = self.waiting.get(self.timer[0])
            if waiting is None or waiting.request["timestamp"] != self.timer[1]:
                self.timer = None  # what it waited for was executed
        if self.timer is None and self.waiting:
            oldest = min(self.waiting.values(), key=lambda w: w.since).request
            self.start_timer(oldest["client"], oldest["timestamp"])

    def start_timer(self, client: str, timestamp: int) -> None:
        self.timer = (client, timestamp)
        self.timer_since = self.runtime.now()

    def take_checkpoint(self, seq: int) -> None:
        state_d = self.sm.digest()
        self.snapshots[seq] = (state_d, self.sm.snapshot())
        mine = self.broadcast({"type": CHECKPOINT, "seq": seq, "state_digest": state_d,
                               "replica": self.me})
        self.add_checkpoint(mine)

    def on_checkpoint(self, msg: Message) -> None:
        body = self.authenticate(msg, CHECKPOINT)
        if body is None or body["seq"] <= self.low:
            return
        known = self.checkpoints.get(body["seq"], {}).get(body["replica"])
        if known is not None and known["state_digest"] != body["state_digest"]:
            self.suspect(body["replica"], "equivocation", f"two checkpoints for {body['seq']}",
                         [_header(known), _header(body)])
            return
        self.add_checkpoint(body)

    def add_checkpoint(self, body: JSON) -> None:
        seq = body["seq"]
        votes = self.checkpoints.setdefault(seq, {})
        votes[body["replica"]] = body
        agreeing = [v for v in votes.values() if v["state_digest"] == body["state_digest"]]
        if len(agreeing) >= self.quorum and seq > self.low:
            self.make_stable(seq, agreeing)

    def make_stable(self, seq: int, proof: list[JSON]) -> None:
        self.low = seq
        self.stable_proof = proof[:self.quorum]
        own = self.snapshots.get(seq)
        if own is not None and own[0] != proof[0]["state_digest"]:
            log.error("my state at checkpoint %d differs from the certified one", seq)
            self.count("diverged_state")
        for table in (self.slots, self.certs, self.checkpoints):
            for old in [s for s in table if s <= seq]:
                del table[old]
        for old in [s for s in self.snapshots if s < seq]:
            del self.snapshots[old]
        if self.last_exec < seq or (own is not None and own[0] != proof[0]["state_digest"]):
            self.runtime.spawn(self.fetch_state(seq, proof))
        elif self.me == self.primary():
            self.schedule_flush()  # the window moved up

    async def fetch_state(self, seq: int, proof: list[JSON]) -> None:
        """State transfer: the state of checkpoint ``seq`` from a replica that signed it."""
        if self.transferring:
            return
        self.transferring = True
        wanted = proof[0]["state_digest"]
        try:
            for body in proof:
                source = body["replica"]
                if source == self.me or self.low != seq:
                    continue
                try:
                    reply = await self.runtime.rpc(source, {"type": "pbft_get_state", "seq": seq},
                                                   self.state_timeout)
                except RPCError as exc:
                    log.info("state %d from %s: %s", seq, source, exc)
                    continue
                state = reply.body.get("state")
                if not isinstance(state, dict) or state_digest(state) != wanted:
                    self.suspect(source, "bad_state", f"state for checkpoint {seq} that does "
                                 "not match the certified digest")
                    continue
                if self.last_exec >= seq and self.sm.digest() == wanted:
                    return
                self.install_state(seq, state)
                return
            log.warning("no replica gave the state of checkpoint %d", seq)
        finally:
            self.transferring = False

    def install_state(self, seq: int, state: JSON) -> None:
        self.sm.restore(state)
        self.snapshots[seq] = (self.sm.digest(), self.sm.snapshot())
        log.info("state transfer: now at checkpoint %d (was at %d)", seq, self.last_exec)
        self.transfers.append([self.last_exec, seq, time.time()])
        self.ahead.clear()
        self.last_exec = seq
        self.seq = max(self.seq, seq)
        for client in [c for c, w in self.waiting.items()
                       if w.request["timestamp"] <= self.sm.last_timestamp(c)]:
            waiting = self.waiting.pop(client)
            result = self.sm.cached_result(client, waiting.request["timestamp"])
            if result is not None:
                self.reply_to_client(waiting.message, waiting.request["timestamp"], result)
        self.execute_ready()
        self.after_progress()

    def on_get_state(self, msg: Message) -> JSON:
        seq = msg.body.get("seq")
        snapshot = self.snapshots.get(seq) if isinstance(seq, int) else None
        if snapshot is None:
            raise RPCError(11, f"no state kept for checkpoint {seq!r}")
        return {"type": "pbft_state", "seq": seq, "state": snapshot[1]}

    # -- view changes ----------------------------------------------------------------------

    def tick(self) -> None:
        now = self.runtime.now()
        timeout = self.vc_timeout * (2 ** min(self.vc_attempts, 6))
        if self.active:
            if self.timer is not None and now - self.timer_since > timeout \
                    and self.me != self.primary():
                if self.behind:
                    self.timer_since = now  # lagging here, not stalled there
                    return
                self.suspect(self.primary(), "stall", f"request {self.timer[1]} of "
                             f"{self.timer[0]} not executed within {timeout:.2f}s")
                self.start_view_change(self.view + 1)
        elif now - self.vc_started > timeout:
            if len(self.view_changes.get(self.view, {})) >= self.quorum:
                self.start_view_change(self.view + 1)  # a quorum moved, its primary failed
            else:
                # Not enough replicas want this view yet: say so again (it may have been
                # lost), rather than run ahead alone into ever later views.
                mine = self.view_changes.get(self.view, {}).get(self.me)
                if mine is not None:
                    self.send([peer for peer in self.replicas if peer != self.me], mine)
                self.vc_started = now

    def start_view_change(self, view: int) -> None:
        if view <= self.view and not self.active:
            return
        log.info("view change to %d (primary %s)", view, self.primary(view))
        self.view = view
        self.active = False
        self.vc_started = self.runtime.now()
        self.vc_attempts += 1
        self.timer = None
        self.queue.clear()
        prepared = [cert for seq, cert in sorted(self.certs.items()) if seq > self.low]
        mine = self.broadcast({"type": VIEW_CHANGE, "view": view, "stable": self.low,
                               "proof": self.stable_proof, "prepared": prepared,
                               "replica": self.me})
        self.view_changes.setdefault(view, {})[self.me] = mine
        self.maybe_new_view(view)

    def on_view_change(self, msg: Message) -> None:
        body = self.authenticate(msg, VIEW_CHANGE)
        if body is None or body["view"] < self.view:
            return
        problem = self.view_change_problem(body)
        if problem:
            self.suspect(body["replica"], "bad_view_change", problem, _header(body))
            return
        view = body["view"]
        self.view_changes.setdefault(view, {})[body["replica"]] = body
        # f+1 replicas want a later view: at least one honest replica timed out, so join.
        later = {r for v, vcs in self.view_changes.items() if v > self.view for r in vcs}
        if len(later) >= self.f + 1:
            if self.active and self.timer is not None and self.me != self.primary():
                waited = self.runtime.now() - self.timer_since
                self.suspect(self.primary(), "stall", f"request {self.timer[1]} of "
                             f"{self.timer[0]} not executed after {waited:.2f}s, when f+1 "
                             "replicas asked for a view change")
            self.start_view_change(min(v for v, vcs in self.view_changes.items()
                                       if v > self.view and vcs))
        self.maybe_new_view(view)

    def view_change_problem(self, body: JSON) -> str | None:
        """What makes a view-change message unacceptable, or None."""
        stable = body["stable"]
        if stable > 0:
            problem = self.checkpoint_proof_problem(stable, body["proof"])
            if problem:
                return f"view change with a bad checkpoint proof: {problem}"
        for cert in body["prepared"]:
            problem = self.cert_problem(cert, body["view"], stable)
            if problem:
                return f"view change with a bad prepared certificate: {problem}"
        return None

    def checkpoint_proof_problem(self, seq: int, proof: Any) -> str | None:
        if not isinstance(proof, list):
            return "not a list"
        signers, digests = set(), set()
        for body in proof:
            if not well_formed(body, CHECKPOINT) or body["seq"] != seq \
                    or not self.verify(body["replica"], body):
                return "an unsigned or foreign checkpoint"
            signers.add(body["replica"])
            digests.add(body["state_digest"])
        if len(signers) < self.quorum or len(digests) != 1:
            return f"{len(signers)} signers, {len(digests)} digests"
        return None

    def cert_problem(self, cert: Any, view: int, stable: int) -> str | None:
        if not isinstance(cert, dict) or not well_formed(cert.get("pp"), PREPREPARE):
            return "no pre-prepare"
        pp = cert["pp"]
        if pp["view"] >= view or not stable < pp["seq"] <= stable + self.log_size:
            return f"pre-prepare of view {pp['view']}, seq {pp['seq']} out of place"
        if pp["replica"] != self.primary(pp["view"]) or not self.verify(pp["replica"], pp):
            return "the pre-prepare is not signed by its view's primary"
        if batch_digest(pp["batch"]) != pp["digest"]:
            return "the pre-prepare's batch does not match its digest"
        prepares = cert.get("prepares")
        signers = set()
        for p in prepares if isinstance(prepares, list) else []:
            if well_formed(p, PREPARE) and (p["view"], p["seq"], p["digest"]) == \
                    (pp["view"], pp["seq"], pp["digest"]) and p["replica"] != pp["replica"] \
                    and self.verify(p["replica"], p):
                signers.add(p["replica"])
        if len(signers) < 2 * self.f:
            return f"{len(signers)} valid prepares, {2 * self.f} needed"
        return None

    def maybe_new_view(self, view: int) -> None:
        if self.primary(view) != self.me or view != self.view or self.active \
                or view in self.new_views:
            return
        vcs = self.view_changes.get(view, {})
        if len(vcs) < self.quorum:
            return
        chosen = [vcs[r] for r in sorted(vcs)][:self.quorum]
        if self.me in vcs and vcs[self.me] not in chosen:
            chosen = [vcs[self.me], *chosen[:self.quorum - 1]]
        preprepares = [self.keys.sign({"type": PREPREPARE, "view": view, "seq": seq,
                                       "digest": batch_digest(batch), "replica": self.me,
                                       "batch": batch})
                       for seq, batch in self.reproposals(chosen)]
        body = self.broadcast({"type": NEW_VIEW, "view": view, "view_changes": chosen,
                               "preprepares": preprepares, "replica": self.me})
        self.enter_view(body, chosen)

    @staticmethod
    def reproposals(vcs: list[JSON]) -> list[tuple[int, list[JSON]]]:
        """The batches a new view must carry: for every sequence number between the
        highest stable checkpoint and the highest prepared certificate, the batch of the
        certificate of the highest view, or a null request."""
        low = max(vc["stable"] for vc in vcs)
        best: dict[int, JSON] = {}
        for vc in vcs:
            for cert in vc["prepared"]:
                pp = cert["pp"]
                if pp["seq"] > low and (pp["seq"] not in best
                                        or pp["view"] > best[pp["seq"]]["view"]):
                    best[pp["seq"]] = pp
        high = max(best, default=low)
        return [(seq, best[seq]["batch"] if seq in best else [])
                for seq in range(low + 1, high + 1)]

    def on_new_view(self, msg: Message) -> None:
        body = self.authenticate(msg, NEW_VIEW)
        if body is None:
            return
        view = body["view"]
        if view < self.view or (view == self.view and self.active):
            return
        if body["replica"] != self.primary(view):
            self.suspect(body["replica"], "not_primary", f"new view {view} from a replica "
                         "that is not its primary", _header(body))
            return
        problem = self.new_view_problem(body)
        if problem:
            self.suspect(body["replica"], "bad_new_view", problem, _header(body))
            return
        self.enter_view(body, body["view_changes"])

    def new_view_problem(self, body: JSON) -> str | None:
        view, vcs = body["view"], body["view_changes"]
        signers = set()
        for vc in vcs:
            if not well_formed(vc, VIEW_CHANGE) or vc["view"] != view \
                    or not self.verify(vc["replica"], vc) or self.view_change_problem(vc):
                return "it carries a view change that does not check"
            signers.add(vc["replica"])
        if len(signers) < self.quorum:
            return f"{len(signers)} view changes, {self.quorum} needed"
        expected = [(seq, batch_digest(batch)) for seq, batch in self.reproposals(vcs)]
        got = []
        for pp in body["preprepares"]:
            if not well_formed(pp, PREPREPARE) or pp["view"] != view \
                    or pp["replica"] != body["replica"] or not self.verify(pp["replica"], pp) \
                    or batch_digest(pp["batch"]) != pp["digest"]:
                return "it carries a pre-prepare that does not check"
            got.append((pp["seq"], pp["digest"]))
        if got != expected:
            return "its pre-prepares are not the ones its view changes call for"
        return None

    def enter_view(self, body: JSON, vcs: list[JSON]) -> None:
        view = body["view"]
        self.view = view
        self.active = True
        self.new_views = {view: body}
        self.view_changes = {v: m for v, m in self.view_changes.items() if v > view}
        self.higher_views = {r: v for r, v in self.higher_views.items() if v > view}
        self.views.append([view, time.time()])
        log.info("entered view %d (primary %s)", view, self.primary(view))
        best_stable = max(vcs, key=lambda vc: vc["stable"])
        if best_stable["stable"] > self.low:
            self.make_stable(best_stable["stable"], best_stable["proof"])
        self.slots = {s: slot for s, slot in self.slots.items() if s <= self.low}
        self.proposed.clear()
        self.queue.clear()
        top = self.low
        for pp in body["preprepares"]:
            top = max(top, pp["seq"])
            if not self.in_window(pp["seq"]):
                continue
            self.accept_preprepare(pp)
            slot = self.slots[pp["seq"]]
            if self.me != body["replica"]:
                slot.prepares[self.me] = self.broadcast({
                    "type": PREPARE, "view": view, "seq": pp["seq"], "digest": pp["digest"],
                    "replica": self.me, "pp_sig": pp.get("sig")}, pp["batch"])
        self.seq = max(top, self.last_exec)
        self.timer = None
        now = self.runtime.now()
        for waiting in self.waiting.values():
            waiting.since = now
        if self.me == self.primary():
            for client, waiting in sorted(self.waiting.items(), key=lambda cw: cw[1].since):
                key = (client, waiting.request["timestamp"])
                if key not in self.proposed:
                    self.queue[key] = waiting.request
            self.schedule_flush()
        elif self.waiting:
            oldest = next(iter(self.waiting.values())).request
            self.start_timer(oldest["client"], oldest["timestamp"])
        for slot in list(self.slots.values()):
            self.maybe_prepared(slot)

    def note_higher_view(self, src: str, view: int) -> None:
        """f+1 replicas speak in a later view: this replica missed a view change (it was
        cut off, or restarted); ask them for the new-view message."""
        self.higher_views[src] = max(view, self.higher_views.get(src, 0))
        if len(self.higher_views) < self.f + 1:
            return
        now = self.runtime.now()
        if now - self.asked_new_view < self.vc_timeout:
            return
        self.asked_new_view = now
        for peer in self.higher_views:
            self.runtime.send(peer, {"type": "pbft_get_new_view", "view": self.view})

    def on_get_new_view(self, msg: Message) -> None:
        latest = max(self.new_views, default=None)
        if latest is not None and self.active and self.behaviour.name != "silent":
            self.runtime.send(msg.src, self.new_views[latest])

    # -- the harness's questions -----------------------------------------------------------

    def on_dchaos_state(self, msg: Message) -> JSON:
        return {"type": "dchaos_state_ok", "view": self.view,
                "committed": self.committed, "suspects": sorted(self.suspects),
                "stable_checkpoint": self.low, "last_executed": self.last_exec,
                "primary": self.primary(), "in_view_change": not self.active,
                "views": self.views, "evidence": self.suspects,
                "evidence_counts": self.evidence_count, "counters": self.counters,
                "transfers": self.transfers, "byzantine": self.behaviour.name,
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


def _header(body: JSON) -> JSON:
    """A message without its batch: small enough to keep as evidence, still verifiable."""
    return {k: v for k, v in body.items() if k not in ("batch", "msg_id", "proof", "prepared",
                                                       "view_changes", "preprepares")}


def _request_problem(request: Any) -> str | None:
    if not isinstance(request, dict):
        return "not an object"
    if not isinstance(request.get("client"), str):
        return "client must be a string"
    timestamp = request.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        return "timestamp must be a non-negative integer"
    return check_op(request.get("op"))


def main() -> int:
    return Replica().run()
