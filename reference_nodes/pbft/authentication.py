"""Authentication: which messages a replica believes, and the evidence it keeps against the
replicas whose messages prove them faulty.

A message from a replica is used only if it is well formed, comes from the replica it names
and carries that replica's Ed25519 signature; a client's request only if its MAC
authenticator checks (:mod:`reference_nodes.pbft.crypto`). A message that fails a check is
dropped, counted and logged, never answered. When it proves its sender faulty — a bad
signature, the same signed message replayed — the sender is suspected; the other parts
suspect on what they find (two messages that conflict for one slot, a digest that does not
match, a request its client never made, ...). The evidence is kept here for
``dchaos_state``, and proof that the primary lies starts a view change at once.

Checking signatures is most of a replica's work, so each result is remembered (certificates
repeat the same bodies), and a prepare or commit that only agrees with a quorum already in
is dropped unchecked.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from reference_nodes.common.maelstrom import JSON, Message
from reference_nodes.pbft.crypto import signed_part
from reference_nodes.pbft.statemachine import check_op

if TYPE_CHECKING:
    from reference_nodes.pbft.node import Replica
    from reference_nodes.pbft.ordering import Slot

# The replica logs under one name, whichever part speaks.
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


def request_problem(request: Any) -> str | None:
    """What makes a client request ill-formed, or None."""
    if not isinstance(request, dict):
        return "not an object"
    if not isinstance(request.get("client"), str):
        return "client must be a string"
    timestamp = request.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        return "timestamp must be a non-negative integer"
    return check_op(request.get("op"))


def header(body: JSON) -> JSON:
    """A message without its batch: small enough to keep as evidence, still verifiable."""
    return {k: v for k, v in body.items() if k not in ("batch", "msg_id", "proof", "prepared",
                                                       "view_changes", "preprepares")}


class Authentication:
    """The checks on other replicas' messages, and the evidence against other replicas."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.seen_sigs: OrderedDict[str, int] = OrderedDict()
        self.verified: OrderedDict[tuple[str, str, bytes], bool] = OrderedDict()
        # What dchaos_state reports.
        self.suspects: dict[str, list[JSON]] = {}
        self.evidence_count: dict[str, int] = {}

    # -- checks ----------------------------------------------------------------------------

    def authenticate(self, msg: Message, kind: str) -> JSON | None:
        """The body of a replica's message if it is well formed, comes from the replica it
        names and carries that replica's signature; None (counted, maybe suspected) if not."""
        r = self.replica
        body = msg.body
        if not well_formed(body, kind):
            r.reject("malformed", msg.src, f"{kind} with missing or ill-typed fields")
            return None
        sender = body["replica"]
        if sender not in r.replicas or sender != msg.src:
            r.reject("malformed", msg.src, f"{kind} names replica {sender!r}")
            return None
        if not self.verify(sender, body):
            r.reject("bad_signature", msg.src, kind)
            r.suspect(sender, "bad_signature", f"{kind} with a signature that does not "
                      f"verify", header(body))
            return None
        sig = str(body.get("sig", ""))
        if sig:
            times = self.arrived(sig)
            if times > 1:
                r.count("duplicates")
                # Honest replicas send a normal-case message once; view changes and
                # checkpoints may be sent again on purpose.
                if times == REPLAY_THRESHOLD and kind in (PREPREPARE, PREPARE, COMMIT):
                    r.suspect(sender, "replay", f"the same signed {kind} received "
                              f"{times} times", header(body))
                return None
        return body

    def verify(self, signer: str, body: JSON) -> bool:
        """Is ``body`` signed by ``signer``? Remembered, since certificates repeat bodies."""
        sig, part = body.get("sig"), signed_part(body)
        # Keyed by what was signed too: a lie may reuse a real signature on other content.
        key = (signer, sig, part) if isinstance(sig, str) else None
        if key is not None and key in self.verified:
            return self.verified[key]
        ok = self.replica.keys.verify_part(signer, sig, part)
        if key is not None:
            self.verified[key] = ok
            if len(self.verified) > 20000:
                self.verified.popitem(last=False)
        return ok

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
        r = self.replica
        body = msg.body
        if not r.active or not well_formed(body, kind) or body["replica"] != msg.src \
                or body["view"] != r.view:
            return False
        slot = r.slots.get(body["seq"])
        if slot is None or slot.view != r.view or body["digest"] != slot.digest \
                or not (slot.prepared if kind == PREPARE else slot.committed):
            return False
        sig = body.get("sig")
        if not isinstance(sig, str) or sig in self.seen_sigs:
            return False
        self.arrived(sig)  # a replayed copy is counted, and checked, as before
        r.count("late_votes_unchecked")
        return True

    # -- evidence --------------------------------------------------------------------------

    def suspect(self, node: str, kind: str, detail: str, proof: Any = None) -> None:
        """Keep evidence that ``node`` is faulty; proof that the primary lies also starts a
        view change."""
        r = self.replica
        if node == r.me or node not in r.replicas:
            return
        r.count(f"evidence_{kind}")
        self.evidence_count[node] = self.evidence_count.get(node, 0) + 1
        entries = self.suspects.setdefault(node, [])
        if len(entries) < EVIDENCE_KEPT:
            entries.append({"kind": kind, "detail": detail, "at": time.time(),
                            **({"proof": proof} if proof is not None else {})})
        if len(entries) == 1 and self.evidence_count[node] == 1:
            log.warning("suspect %s: %s: %s", node, kind, detail)
        if node == r.primary() and r.active and kind in PROOF_AGAINST_PRIMARY \
                and r.behaviour.honest:
            # Proof in hand that the primary lies: no reason to wait for the timer. (A
            # Byzantine replica does not denounce a primary it may be colluding with.)
            r.view_change.start_view_change(r.view + 1)

    def judge_conflict(self, sender: str, body: JSON, slot: Slot) -> None:
        """A prepare or commit from ``sender`` names another digest than the slot's
        pre-prepare: the primary's signature it carries says which of the two lied."""
        r = self.replica
        assert slot.preprepare is not None
        primary = slot.preprepare["replica"]
        claimed = {"type": PREPREPARE, "view": body["view"], "seq": body["seq"],
                   "digest": body["digest"], "replica": primary, "sig": body.get("pp_sig")}
        if body.get("pp_sig") and self.verify(primary, claimed):
            r.suspect(primary, "equivocation", f"pre-prepared two digests for view "
                      f"{body['view']}, seq {body['seq']} (one shown by {sender})",
                      [header(slot.preprepare), header(claimed)])
        else:
            r.suspect(sender, "bad_digest", f"{body['type']} for seq {body['seq']} of a "
                      "digest the primary never pre-prepared", header(body))
