"""Checkpoints, and state transfer to a replica that fell behind them.

Every ``checkpoint_interval`` sequence numbers each replica signs a checkpoint: the digest of
its state once it has executed that far. 2f+1 matching ones make the checkpoint *stable*:
their signatures are the proof a view change carries, the low watermark moves up to it, and
the log up to it (slots, prepared certificates, checkpoint messages, older snapshots) is
dropped.

A replica that sees a stable checkpoint beyond what it executed (it fell behind, or
restarted empty), or whose own state there differs from the certified one, fetches that
checkpoint's state from a replica that signed it and checks it against the certified
digest. Replicas seen working above its high watermark tell it that it is the one behind,
so that meanwhile its view-change timer does not blame the primary.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from reference_nodes.common.maelstrom import JSON, Message, RPCError
from reference_nodes.pbft.authentication import CHECKPOINT, header, well_formed
from reference_nodes.pbft.statemachine import state_digest

if TYPE_CHECKING:
    from reference_nodes.pbft.node import Replica

# The replica logs under one name, whichever part speaks.
log = logging.getLogger("reference_nodes.pbft")


class Checkpoints:
    """One replica's checkpoints, the snapshots it can hand out, and its state transfers."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.runtime = replica.runtime
        #: seq -> replica -> that replica's signed checkpoint
        self.votes: dict[int, dict[str, JSON]] = {}
        sm = replica.sm
        self.snapshots: dict[int, tuple[str, JSON]] = {0: (sm.digest(), sm.snapshot())}
        self.stable_proof: list[JSON] = []
        self.transferring = False
        #: Replicas seen working above this one's high watermark: it is the one behind.
        self.ahead: set[str] = set()
        self.transfers: list[list[Any]] = []  # what dchaos_state reports

    # -- checkpoints -----------------------------------------------------------------------

    def take_checkpoint(self, seq: int) -> None:
        r = self.replica
        state_d = r.sm.digest()
        self.snapshots[seq] = (state_d, r.sm.snapshot())
        mine = r.broadcast({"type": CHECKPOINT, "seq": seq, "state_digest": state_d,
                            "replica": r.me})
        self.add_checkpoint(mine)

    def on_checkpoint(self, msg: Message) -> None:
        r = self.replica
        body = r.auth.authenticate(msg, CHECKPOINT)
        if body is None or body["seq"] <= r.low:
            return
        known = self.votes.get(body["seq"], {}).get(body["replica"])
        if known is not None and known["state_digest"] != body["state_digest"]:
            r.suspect(body["replica"], "equivocation", f"two checkpoints for {body['seq']}",
                      [header(known), header(body)])
            return
        self.add_checkpoint(body)

    def add_checkpoint(self, body: JSON) -> None:
        seq = body["seq"]
        votes = self.votes.setdefault(seq, {})
        votes[body["replica"]] = body
        agreeing = [v for v in votes.values() if v["state_digest"] == body["state_digest"]]
        if len(agreeing) >= self.replica.quorum and seq > self.replica.low:
            self.make_stable(seq, agreeing)

    def make_stable(self, seq: int, proof: list[JSON]) -> None:
        r = self.replica
        r.low = seq
        self.stable_proof = proof[:r.quorum]
        own = self.snapshots.get(seq)
        if own is not None and own[0] != proof[0]["state_digest"]:
            log.error("my state at checkpoint %d differs from the certified one", seq)
            r.count("diverged_state")
        for table in (r.slots, r.certs, self.votes):
            for old in [s for s in table if s <= seq]:
                del table[old]
        for old in [s for s in self.snapshots if s < seq]:
            del self.snapshots[old]
        if r.last_exec < seq or (own is not None and own[0] != proof[0]["state_digest"]):
            self.runtime.spawn(self.fetch_state(seq, proof))
        elif r.me == r.primary():
            r.ordering.schedule_flush()  # the window moved up

    def checkpoint_proof_problem(self, seq: int, proof: Any) -> str | None:
        """What makes ``proof`` no proof that checkpoint ``seq`` is stable, or None."""
        if not isinstance(proof, list):
            return "not a list"
        r = self.replica
        signers, digests = set(), set()
        for body in proof:
            if not well_formed(body, CHECKPOINT) or body["seq"] != seq \
                    or not r.auth.verify(body["replica"], body):
                return "an unsigned or foreign checkpoint"
            signers.add(body["replica"])
            digests.add(body["state_digest"])
        if len(signers) < r.quorum or len(digests) != 1:
            return f"{len(signers)} signers, {len(digests)} digests"
        return None

    # -- state transfer --------------------------------------------------------------------

    def note_ahead(self, body: JSON) -> None:
        r = self.replica
        if body["seq"] > r.low + r.log_size:
            self.ahead.add(body["replica"])

    @property
    def behind(self) -> bool:
        """f+1 replicas work above this one's watermarks: it missed checkpoints and waits
        for state transfer; its requests are not executed, but not by the primary's fault."""
        return len(self.ahead) >= self.replica.f + 1

    async def fetch_state(self, seq: int, proof: list[JSON]) -> None:
        """State transfer: the state of checkpoint ``seq`` from a replica that signed it."""
        if self.transferring:
            return
        self.transferring = True
        r = self.replica
        wanted = proof[0]["state_digest"]
        try:
            for body in proof:
                source = body["replica"]
                if source == r.me or r.low != seq:
                    continue
                try:
                    reply = await self.runtime.rpc(source, {"type": "pbft_get_state", "seq": seq},
                                                   r.state_timeout)
                except RPCError as exc:
                    log.info("state %d from %s: %s", seq, source, exc)
                    continue
                state = reply.body.get("state")
                if not isinstance(state, dict) or state_digest(state) != wanted:
                    r.suspect(source, "bad_state", f"state for checkpoint {seq} that does "
                              "not match the certified digest")
                    continue
                if r.last_exec >= seq and r.sm.digest() == wanted:
                    return
                self.install_state(seq, state)
                return
            log.warning("no replica gave the state of checkpoint %d", seq)
        finally:
            self.transferring = False

    def install_state(self, seq: int, state: JSON) -> None:
        r = self.replica
        r.sm.restore(state)
        self.snapshots[seq] = (r.sm.digest(), r.sm.snapshot())
        log.info("state transfer: now at checkpoint %d (was at %d)", seq, r.last_exec)
        self.transfers.append([r.last_exec, seq, time.time()])
        self.ahead.clear()
        r.last_exec = seq
        r.seq = max(r.seq, seq)
        for client in [c for c, w in r.waiting.items()
                       if w.request["timestamp"] <= r.sm.last_timestamp(c)]:
            waiting = r.waiting.pop(client)
            result = r.sm.cached_result(client, waiting.request["timestamp"])
            if result is not None:
                r.reply_to_client(waiting.message, waiting.request["timestamp"], result)
        r.ordering.execute_ready()
        r.view_change.after_progress()

    def on_get_state(self, msg: Message) -> JSON:
        seq = msg.body.get("seq")
        snapshot = self.snapshots.get(seq) if isinstance(seq, int) else None
        if snapshot is None:
            raise RPCError(11, f"no state kept for checkpoint {seq!r}")
        return {"type": "pbft_state", "seq": seq, "state": snapshot[1]}
