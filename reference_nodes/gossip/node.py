"""The gossip reference node: SWIM membership plus epidemic broadcast with anti-entropy.

This module wires the parts together and speaks the client contract; each part is its
own module:

* :mod:`.membership` — the member table and SWIM's merge and refutation rules;
* :mod:`.failure_detector` — probing (ping, ping_req) and suspicion timers;
* :mod:`.piggyback` — membership news riding on probe and gossip messages;
* :mod:`.dissemination` — batched gossip of values (and news) along the overlay;
* :mod:`.overlay` — who gossips to whom;
* :mod:`.anti_entropy` — version-vector exchanges that repair what gossip missed;
* :mod:`.values`, :mod:`.rtt`, :mod:`.config` — the value log, round-trip estimates and
  the parameters (their table and defaults are in :mod:`.config` and docs/nodes/gossip.md).

Client messages (the contract): ``topology`` → ``topology_ok``; ``broadcast {message}``
→ ``broadcast_ok``; ``read`` → ``read_ok {messages}``; ``members`` → ``members_ok
{members, incarnation}``; ``dchaos_state`` → ``dchaos_state_ok {members, incarnation,
messages, ...}``.

Messages between nodes (every one carries ``members``: piggybacked ``[id, status,
incarnation]`` records, always including the sender's own and, when the receiver is
thought suspect or dead, the receiver's):

* ``ping`` → ``ack``: a direct probe;
* ``ping_req {target, timeout_ms}`` → ``ack {target}``: probe ``target`` for me; no answer
  if it does not answer;
* ``gossip {entries?}``: a batch, one way, no answer; ``entries`` is ``{origin: [[seq,
  value], ...]}`` (see :mod:`.values`);
* ``sync {vector, settled}`` → ``sync_reply {vector, settled, entries?}`` (only if
  something differs) → ``sync_push {entries}`` (only if the initiator has entries the
  partner lacks); see :mod:`.anti_entropy`.

Behaviours are methods so that a variant — like the deliberately broken nodes the
checkers are tested against — can override exactly one of them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import Any

from reference_nodes.common.maelstrom import Message, Node, Params, RPCError, require

from .anti_entropy import AntiEntropy
from .config import GossipConfig
from .dissemination import CLIENT, GOSSIP, Disseminator
from .failure_detector import FailureDetector
from .membership import ALIVE, DEAD, SUSPECT, Change, Membership, Record
from .overlay import Overlay, natural_key
from .piggyback import PiggybackQueue
from .rtt import RoundTripEstimator
from .values import Entry, Key, ValueLog, decode, new_origin

log = logging.getLogger("reference_nodes.gossip")

JSON = dict[str, Any]


class GossipNode:
    """One gossip node. ``GossipNode().run()`` serves stdin/stdout until end of file."""

    membership_class: type[Membership] = Membership
    failure_detector_class: type[FailureDetector] = FailureDetector
    dissemination_class: type[Disseminator] = Disseminator

    def __init__(self, runtime: Node | None = None) -> None:
        self.runtime = runtime or Node()
        self.rng = random.Random()
        handlers = {
            "topology": self.on_topology,
            "broadcast": self.on_broadcast,
            "read": self.on_read,
            "members": self.on_members,
            "dchaos_state": self.on_dchaos_state,
            "ping": self.on_ping,
            "ping_req": self.on_ping_req,
            "ack": self.on_late_ack,
            "gossip": self.on_gossip,
            "sync": self.on_sync,
            "sync_reply": self.on_sync_reply,
            "sync_push": self.on_sync_push,
        }
        self.runtime.on_many(handlers)
        self.runtime.declare_extensions("members", "dchaos_state")
        self.runtime.on_init(self.setup)

    def run(self) -> int:
        return self.runtime.run()

    # -- set-up ---------------------------------------------------------------------------

    def configure(self, params: Params) -> GossipConfig:
        """The effective parameters (override to pin some of them)."""
        return GossipConfig.from_params(params)

    def setup(self) -> None:
        """Build the node's parts once ``init`` has said who is in the cluster."""
        runtime = self.runtime
        self.config = self.configure(runtime.params)
        node_id = runtime.node_id
        assert node_id is not None
        self.node_id = node_id
        self.membership = self.membership_class(node_id, runtime.node_ids)
        self.overlay = Overlay(node_id, runtime.node_ids, self.config.overlay,
                               self.config.overlay_degree)
        self.values = ValueLog()
        self.origin = new_origin(node_id)
        self.piggyback = PiggybackQueue(len(runtime.node_ids), self.config.retransmit_mult)
        self.rtt = RoundTripEstimator(self.config.probe_timeout, self.config.probe_timeout_min,
                                      self.config.probe_timeout_max,
                                      self.config.adaptive_timeouts)
        self.failure_detector = self.failure_detector_class(self, self.rng)
        self.dissemination = self.dissemination_class(self)
        self.anti_entropy = AntiEntropy(self, self.rng)
        self.topology: dict[str, list[str]] = {}
        log.info("overlay %s (asked for %s), %d neighbour(s)", self.overlay.mode,
                 self.overlay.requested, len(self.overlay.neighbours))
        self.start_failure_detector()
        self.start_dissemination()

    def start_failure_detector(self) -> None:
        self.failure_detector.start()

    def start_dissemination(self) -> None:
        """Start gossip batches and anti-entropy: everything that moves values between nodes."""
        self.dissemination.start()
        self.anti_entropy.start()

    # -- client messages ------------------------------------------------------------------

    def on_topology(self, msg: Message) -> JSON:
        topology = require(msg.body, "topology", dict)
        for node, neighbours in topology.items():
            if not isinstance(neighbours, list) or not all(isinstance(n, str)
                                                           for n in neighbours):
                raise RPCError.malformed(f"topology: {node}'s neighbours must be a list of ids")
        self.topology = topology
        self.overlay.set_topology(topology)
        return {"type": "topology_ok"}

    def on_broadcast(self, msg: Message) -> JSON | None:
        value = require(msg.body, "message", int)
        if value in self.values:
            return {"type": "broadcast_ok"}
        self.spread([self.values.append(self.origin, value)], None, CLIENT)
        self.dissemination.defer_ack(lambda: self.runtime.reply(msg, {"type": "broadcast_ok"}))
        return None

    def on_read(self, msg: Message) -> JSON:
        return {"type": "read_ok", "messages": self.read_values()}

    def read_values(self) -> list[int]:
        """Every value this node knows, ascending."""
        return list(self.values.sorted())

    def on_members(self, msg: Message) -> JSON:
        return {"type": "members_ok", "members": self.membership.statuses(),
                "incarnation": self.membership.incarnations()}

    def on_dchaos_state(self, msg: Message) -> JSON:
        return {
            "type": "dchaos_state_ok",
            "members": self.membership.statuses(),
            "incarnation": self.membership.incarnations(),
            "messages": self.read_values(),
            "suspicions": self.failure_detector.suspicions(),
            "overlay": {"mode": self.overlay.mode,
                        "neighbours": sorted(self.overlay.neighbours, key=natural_key)},
            "rtt": self.rtt.snapshot(),
            "origin": self.origin,
            "vector": self.values.vector(),
            "pending": self.dissemination.pending(),
            "anti_entropy": {"exchanges": self.anti_entropy.exchanges,
                             "repairs": self.anti_entropy.repairs},
            "params": self.config.as_params(),
        }

    # -- values ---------------------------------------------------------------------------

    def learn_values(self, entries: list[Entry], source: str, via: str) -> None:
        """Store entries another node sent and pass the new ones on."""
        new = self.values.add_all(entries)
        if via == GOSSIP:
            self.dissemination.known_values([(o, s) for o, s, _ in entries], source, via)
        if new:
            self.spread(new, source, via)

    def spread(self, keys: list[Key], source: str | None, via: str) -> None:
        """Pass newly learned entries on to whoever may lack them."""
        self.dissemination.spread_values(keys, source, via)

    def on_gossip(self, msg: Message) -> None:
        try:
            entries = decode(msg.body.get("entries") or {})
        except ValueError as exc:
            raise RPCError.malformed(f"gossip: {exc}") from exc
        self.absorb(msg, GOSSIP)
        self.learn_values(entries, msg.src, GOSSIP)

    def on_sync(self, msg: Message) -> None:
        self.anti_entropy.handle_sync(msg)

    def on_sync_reply(self, msg: Message) -> None:
        self.anti_entropy.handle_sync_reply(msg)

    def on_sync_push(self, msg: Message) -> None:
        self.anti_entropy.handle_sync_push(msg)

    # -- membership -----------------------------------------------------------------------

    def on_ping(self, msg: Message) -> JSON:
        return self.failure_detector.handle_ping(msg)

    async def on_ping_req(self, msg: Message) -> JSON | None:
        return await self.failure_detector.handle_ping_req(msg)

    def on_late_ack(self, msg: Message) -> None:
        """An ack after its probe gave up: still news about who is alive, and an answer."""
        self.failure_detector.note_answered(msg.src)
        self.absorb(msg, "probe")

    def decorate(self, dest: str, body: JSON, records: Iterable[Record] = ()) -> JSON:
        """Piggyback membership records on an outgoing body.

        Always this node's own record (so everyone learns its incarnation) and, if the
        destination is thought suspect or dead, its record (so it can refute); then
        ``records``; then up to ``max_piggyback`` entries of the SWIM queue.
        """
        chosen: dict[str, Record] = {r.member: r for r in records}
        membership = self.membership
        chosen[self.node_id] = membership.me
        if dest in membership and membership.status(dest) != ALIVE:
            chosen[dest] = membership.get(dest)
        for member in self.piggyback.take(self.config.max_piggyback, skip=chosen.keys()):
            chosen[member] = membership.get(member)
        body["members"] = [r.to_wire() for r in chosen.values()]
        return body

    def absorb(self, msg: Message, via: str) -> None:
        """Merge the membership records ``msg`` carries; spread what is news."""
        self.failure_detector.note_heard(msg.src)
        items = msg.body.get("members")
        if not items:
            return
        if not isinstance(items, list):
            log.warning("ignoring members from %s: not a list", msg.src)
            return
        membership = self.membership
        for item in items:
            try:
                record = Record.from_wire(item)
            except ValueError as exc:
                log.warning("ignoring a record from %s: %s", msg.src, exc)
                continue
            record = self.second_opinion(record, msg.src)
            change = membership.apply(record)
            if change is not None:
                self.on_membership_change(change, msg.src, via)
            if record.member in membership and membership.get(record.member) == record:
                self.dissemination.known_member(record.member, msg.src)

    def second_opinion(self, record: Record, source: str) -> Record:
        """Take news that a member is dead as mere suspicion when this node heard from that
        member itself within a suspicion timeout.

        After a partition heals, each side's death certificates for the other side spread
        across; SWIM would apply them at once, marking dead members this node is talking
        to, until they refute. As suspicion instead, the member gets its chance to refute
        first, and a member that really died is still declared dead when the suspicion
        expires.
        """
        if record.status != DEAD or record.member in (source, self.node_id):
            return record
        heard = self.failure_detector.last_heard.get(record.member)
        if heard is None or self.runtime.now() - heard > self.config.suspicion_timeout:
            return record
        return Record(record.member, SUSPECT, record.incarnation)

    def on_membership_change(self, change: Change, source: str | None, via: str) -> None:
        """React to a record that changed: ``source`` is None for this node's own verdicts."""
        before, after = change.before, change.after
        member = after.member
        log.info("%s: %s@%d -> %s@%d (%s%s)", member, before.status, before.incarnation,
                 after.status, after.incarnation, via, f" from {source}" if source else "")
        self.piggyback.add(member)
        if member == self.node_id:  # we refuted a rumour: tell everyone, now
            self.dissemination.spread_member(member, None, CLIENT)
            return
        self.dissemination.spread_member(member, source, CLIENT if source is None else via)
        if after.status == SUSPECT:
            self.failure_detector.start_suspicion(member, after.incarnation,
                                                  originated=source is None)
        else:
            self.failure_detector.clear_suspicion(member)
        if after.status == DEAD:
            self.dissemination.forget(member)

    def on_probe_failed(self, member: str) -> None:
        """Nobody could reach ``member``: suspect it (unless it may not have started)."""
        if self.failure_detector.in_startup_grace(member):
            log.debug("%s unreachable but never heard from: still in startup grace", member)
            return
        change = self.membership.suspect(member)
        if change is not None:
            self.on_membership_change(change, None, CLIENT)

    def on_suspicion_expired(self, member: str, incarnation: int) -> None:
        """``member`` did not refute in time: declare it dead."""
        self.declare_dead(member)

    def declare_dead(self, member: str) -> None:
        change = self.membership.declare_dead(member)
        if change is not None:
            self.on_membership_change(change, None, CLIENT)


def main() -> int:
    """Run one gossip node on stdin/stdout (``python3 -m reference_nodes.gossip``)."""
    return GossipNode().run()
