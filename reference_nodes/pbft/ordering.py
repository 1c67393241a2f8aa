"""Ordering: PBFT's normal case, which gives each client request a sequence number and
executes requests in that order.

The primary of the view batches the requests waiting for it, up to ``batch_size``, into a
pre-prepare for its next sequence number. While a batch is in flight another goes out only
once ``pipeline_min`` requests wait, and never more than ``window`` batches are in flight. A
backup accepts the pre-prepare if it comes from the primary, its sequence number is inside
the watermarks ``(h, h + log_size]`` (``h`` the stable checkpoint), its requests are their
clients' and its digest is right; then it prepares. With the pre-prepare and 2f matching
prepares from backups a slot is *prepared* — a certificate kept for view changes — and the
replica commits; with 2f+1 matching commits the slot is *committed*. Committed slots are
executed in sequence order, each replica answering the client, and every
``checkpoint_interval`` sequence numbers a checkpoint is taken (:mod:`.checkpoints`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reference_nodes.common.maelstrom import JSON, Message
from reference_nodes.pbft.authentication import (
    COMMIT,
    PREPARE,
    PREPREPARE,
    header,
    request_problem,
)
from reference_nodes.pbft.crypto import batch_order, request_core

if TYPE_CHECKING:
    from reference_nodes.pbft.node import Replica


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


class Ordering:
    """One replica's normal case: proposing as primary, voting, executing."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.runtime = replica.runtime
        self.flush_scheduled = False

    # -- proposing, as primary -------------------------------------------------------------

    def schedule_flush(self) -> None:
        # Requests that arrive together (one read from stdin) go out in one batch.
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.runtime.loop.call_soon(self.flush)

    def flush(self) -> None:
        """As primary: pre-prepare queued requests while the window and watermarks allow."""
        self.flush_scheduled = False
        r = self.replica
        if r.me != r.primary() or not r.active:
            return
        while r.queue and r.seq + 1 <= r.low + r.log_size \
                and self.may_propose(r.seq - r.last_exec):
            batch: list[JSON] = []
            while r.queue and len(batch) < r.batch_size:
                key, request = r.queue.popitem(last=False)
                if request["timestamp"] > r.sm.last_timestamp(key[0]):
                    batch.append(request)
                    r.proposed.add(key)
            if not batch:
                break
            batch.sort(key=batch_order)
            r.seq += 1
            body = r.broadcast({"type": PREPREPARE, "view": r.view, "seq": r.seq,
                                "digest": r.keys.batch_digest(batch),
                                "replica": r.me, "batch": batch})
            self.accept_preprepare(body)

    def may_propose(self, in_flight: int) -> bool:
        """Whether to pre-prepare another batch now, with ``in_flight`` not yet executed.

        The pipeline is idle: yes. Otherwise only for a batch worth its cost — each costs
        every replica several signatures — up to ``window`` in flight: a few requests wait
        for the batch in flight to finish and go out together in the next.
        """
        if in_flight == 0:
            return True
        r = self.replica
        return in_flight < r.window and len(r.queue) >= r.pipeline_min

    # -- pre-prepare, prepare, commit ------------------------------------------------------

    def in_window(self, seq: int) -> bool:
        r = self.replica
        return r.low < seq <= r.low + r.log_size

    def current(self, body: JSON, src: str) -> bool:
        """Is a normal-case message for this view (and are we in it)? Notes later views."""
        r = self.replica
        if body["view"] > r.view:
            r.view_change.note_higher_view(src, body["view"])
        return body["view"] == r.view and r.active

    def on_preprepare(self, msg: Message) -> None:
        r = self.replica
        body = r.auth.authenticate(msg, PREPREPARE)
        if body is None or not self.current(body, msg.src):
            return
        sender, seq = body["replica"], body["seq"]
        if sender != r.primary():
            r.suspect(sender, "not_primary", f"pre-prepare for view {body['view']}, whose "
                      f"primary is {r.primary()}", header(body))
            return
        if not self.in_window(seq):
            if seq > r.low + r.log_size:
                r.reject("out_of_window", msg.src, f"pre-prepare {seq} above the high "
                         f"watermark {r.low + r.log_size}")
                if seq > r.low + 2 * r.log_size:
                    r.suspect(sender, "out_of_order", f"pre-prepare {seq} far above the "
                              f"watermarks ({r.low}, {r.low + r.log_size}]", header(body))
            return
        for request in body["batch"]:
            if r.keys.known_request(request):
                continue  # checked, form and MAC, when its client sent it
            problem = request_problem(request)
            if problem or not r.keys.authentic_request(request):
                r.suspect(sender, "invented_request", f"pre-prepare {seq} holds a request "
                          f"its client did not make ({problem or 'bad MAC'})", header(body))
                return
        if r.keys.batch_digest(body["batch"]) != body["digest"]:
            r.suspect(sender, "bad_digest", f"pre-prepare {seq}: the batch does not "
                      "match its digest", header(body))
            return
        slot = r.slots.get(seq)
        if slot is not None and slot.view == r.view and slot.preprepare is not None:
            if slot.digest != body["digest"]:
                r.suspect(sender, "equivocation", f"two pre-prepares for view "
                          f"{r.view}, seq {seq}", [header(slot.preprepare), header(body)])
            return
        self.accept_preprepare(body)
        if r.me != sender:
            self.check_prepares(r.slots[seq])
            mine = r.broadcast({"type": PREPARE, "view": r.view, "seq": seq,
                                "digest": body["digest"], "replica": r.me,
                                "pp_sig": body.get("sig")}, body["batch"])
            r.slots[seq].prepares[r.me] = mine
        self.maybe_prepared(r.slots[seq])

    def accept_preprepare(self, body: JSON) -> None:
        r = self.replica
        seq = body["seq"]
        slot = r.slots.get(seq)
        if slot is None or slot.view != body["view"]:
            slot = r.slots[seq] = Slot(seq, body["view"])
        slot.preprepare = body
        for request in body["batch"]:
            r.proposed.add((request["client"], request["timestamp"]))

    def slot_for(self, body: JSON) -> Slot:
        slots = self.replica.slots
        seq = body["seq"]
        slot = slots.get(seq)
        if slot is None or slot.view != body["view"]:
            slot = slots[seq] = Slot(seq, body["view"])
        return slot

    def check_prepares(self, slot: Slot) -> None:
        """With the pre-prepare known, prepares that named another digest are lies: the
        primary's signature they carry says which of the two lied."""
        for sender, prepare in list(slot.prepares.items()):
            if prepare["digest"] != slot.digest:
                del slot.prepares[sender]
                self.replica.judge_conflict(sender, prepare, slot)

    def on_prepare(self, msg: Message) -> None:
        r = self.replica
        if r.auth.agreeing_late_vote(msg, PREPARE):
            return
        body = r.auth.authenticate(msg, PREPARE)
        if body is None or not self.current(body, msg.src):
            return
        if not self.in_window(body["seq"]):
            r.checkpoints.note_ahead(body)
            return
        sender = body["replica"]
        if sender == r.primary():
            r.suspect(sender, "out_of_order", "the primary sent a prepare", header(body))
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
                self.replica.suspect(sender, "equivocation", f"two {word} for view "
                                     f"{body['view']}, seq {body['seq']}",
                                     [header(known), header(body)])
            return False
        if slot.preprepare is not None and body["digest"] != slot.digest:
            self.replica.judge_conflict(sender, body, slot)
            return False
        votes[sender] = body
        return True

    def maybe_prepared(self, slot: Slot) -> None:
        if slot.prepared or slot.preprepare is None:
            return
        r = self.replica
        matching = [p for sender, p in slot.prepares.items()
                    if p["digest"] == slot.digest and sender != slot.preprepare["replica"]]
        if len(matching) < r.prepare_quorum:
            return
        slot.prepared = True
        r.certs[slot.seq] = {"pp": slot.preprepare,
                             "prepares": matching[:max(r.prepare_quorum, 2 * r.f)]}
        mine = r.broadcast({"type": COMMIT, "view": slot.view, "seq": slot.seq,
                            "digest": slot.digest, "replica": r.me,
                            "pp_sig": slot.preprepare.get("sig")}, slot.preprepare["batch"])
        slot.commits[r.me] = mine
        self.maybe_committed(slot)

    def on_commit(self, msg: Message) -> None:
        r = self.replica
        if r.auth.agreeing_late_vote(msg, COMMIT):
            return
        body = r.auth.authenticate(msg, COMMIT)
        if body is None or not self.current(body, msg.src):
            return
        if not self.in_window(body["seq"]):
            r.checkpoints.note_ahead(body)
            return
        slot = self.slot_for(body)
        if self.take_vote(slot, slot.commits, body):
            self.maybe_committed(slot)

    def maybe_committed(self, slot: Slot) -> None:
        if slot.committed or not slot.prepared:
            return
        if sum(1 for c in slot.commits.values()
               if c["digest"] == slot.digest) < self.replica.commit_quorum:
            return
        slot.committed = True
        self.execute_ready()

    # -- execution -------------------------------------------------------------------------

    def execute_ready(self) -> None:
        r = self.replica
        progressed = False
        while True:
            slot = r.slots.get(r.last_exec + 1)
            if slot is None or not slot.committed or slot.preprepare is None:
                break
            self.execute(slot)
            progressed = True
        if progressed:
            r.view_change.vc_attempts = 0
            r.view_change.after_progress()

    def execute(self, slot: Slot) -> None:
        r = self.replica
        assert slot.preprepare is not None
        batch, digest = slot.preprepare["batch"], slot.preprepare["digest"]
        if not batch:
            r.committed.append([slot.seq, digest, None])
        for request in batch:
            client, timestamp = request["client"], request["timestamp"]
            r.committed.append([slot.seq, digest, request_core(request)])
            result = r.sm.execute(request)
            r.proposed.discard((client, timestamp))
            waiting = r.waiting.get(client)
            if waiting is not None and waiting.request["timestamp"] <= timestamp:
                del r.waiting[client]
                if result is not None and waiting.request["timestamp"] == timestamp:
                    r.reply_to_client(waiting.message, timestamp, result)
        r.last_exec = slot.seq
        if slot.seq % r.interval == 0:
            r.checkpoints.take_checkpoint(slot.seq)
