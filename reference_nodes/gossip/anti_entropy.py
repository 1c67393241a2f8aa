"""Anti-entropy: periodic exchanges of version vectors that repair whatever gossip missed.

Gossip is fire-and-forget, so an entry sent across a partitioned link, or to a node that
crashed and restarted empty, is simply gone from that path. Every
``anti_entropy_interval`` each node therefore picks one random member — dead ones
included, since a node thought dead may be back — and compares notes:

1. ``sync {vector, settled, members}``: the initiator's version vector (see
   :mod:`values`), the vector it had one to two intervals ago, and its whole member table.
2. The partner merges the table. If either side has *settled* entries — known for at least
   an interval — past the other's current vector, or it holds newer member records, it
   answers ``sync_reply {vector, settled, entries, members}``: the entries the initiator
   lacks, its own vectors and the newer records. Otherwise it says nothing: one message
   per exchange in the steady state.
3. The initiator stores those and, if it has entries past the partner's vector,
   ``sync_push {entries}`` sends them.

Comparing settled entries against current vectors is what keeps a busy cluster quiet:
two nodes compared at any instant differ by the values still in flight between them, and
gossip is about to deliver those anyway. What a partition or a restart took away is old,
so it shows up at once. Three messages repair any difference both ways, and they carry
only what is missing (plus entries in flight).

Because the whole member table travels, an exchange with a member thought dead also tells
it so, and it refutes: that, with re-probing, is how a healed or restarted node gets
re-admitted everywhere.

A node that has just started syncs with a member it believes alive at once, so a
restarted node has its backlog back within a round trip or two.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Protocol

from reference_nodes.common.maelstrom import Message, Node, RPCError, require

from .config import GossipConfig
from .dissemination import SYNC
from .membership import DEAD, Membership, Record
from .values import Entry, ValueLog, decode, encode, parse_vector

log = logging.getLogger("reference_nodes.gossip.anti_entropy")

JSON = dict[str, Any]

FIRST_SYNC_DELAY = 0.05  # a new node asks for the backlog almost at once


class SyncHost(Protocol):
    runtime: Node
    config: GossipConfig
    membership: Membership
    values: ValueLog

    def decorate(self, dest: str, body: JSON, records: Any = ()) -> JSON: ...

    def absorb(self, msg: Message, via: str) -> None: ...

    def learn_values(self, entries: list[Entry], source: str, via: str) -> None:
        """Store entries and pass the new ones on."""


class AntiEntropy:
    """The sync timer and the three sync messages of one node."""

    def __init__(self, host: SyncHost, rng: random.Random | None = None) -> None:
        self.host = host
        self.runtime = host.runtime
        self.rng = rng or random.Random()
        self.first = True
        self.settled: dict[str, int] = {}  # the vector as it was one to two intervals ago
        self._previous: dict[str, int] = {}
        self.exchanges = 0
        self.repairs = 0

    def start(self) -> None:
        self.runtime.every(self.host.config.anti_entropy_interval, self.tick,
                           first_delay=FIRST_SYNC_DELAY)

    def partner(self) -> str | None:
        """A random member, dead ones included (they may be back); but a node's first
        exchange, which fetches its backlog, is with a member it believes alive."""
        membership = self.host.membership
        candidates = membership.others()
        if self.first:
            self.first = False
            candidates = [m for m in candidates if membership.status(m) != DEAD] or candidates
        return self.rng.choice(candidates) if candidates else None

    def tick(self) -> None:
        self.settled, self._previous = self._previous, self.host.values.vector()
        partner = self.partner()
        if partner is not None:
            self.sync_with(partner)

    def sync_with(self, partner: str) -> None:
        body = {"type": "sync", "vector": self.host.values.vector(), "settled": self.settled}
        self.exchanges += 1
        table = list(self.host.membership.records.values())
        self.runtime.send(partner, self.host.decorate(partner, body, table))

    # -- the three messages ---------------------------------------------------------------

    def handle_sync(self, msg: Message) -> None:
        theirs = _vector(msg)
        their_settled = _vector(msg, "settled", default=theirs)
        their_records = _records(msg)
        self.host.absorb(msg, SYNC)
        values = self.host.values
        mine = values.vector()
        give = _ahead(self.settled, theirs)  # they lack something we have had for a while
        take = _ahead(their_settled, mine)  # and the other way round
        membership = self.host.membership
        newer = [record for member, record in membership.records.items()
                 if member not in their_records
                 or record.version > their_records[member].version]
        if not give and not take and not newer:
            return
        body: JSON = {"type": "sync_reply", "vector": mine, "settled": self.settled}
        missing = values.beyond(theirs) if give else []
        if missing:
            body["entries"] = encode(missing)
        self.runtime.send(msg.src, self.host.decorate(msg.src, body, newer))

    def handle_sync_reply(self, msg: Message) -> None:
        theirs = _vector(msg)
        entries = _entries(msg)
        self.host.absorb(msg, SYNC)
        if entries:
            self.repairs += 1
            self.host.learn_values(entries, msg.src, SYNC)
        missing = self.host.values.beyond(theirs)
        if missing:
            body = {"type": "sync_push", "entries": encode(missing)}
            self.runtime.send(msg.src, self.host.decorate(msg.src, body))

    def handle_sync_push(self, msg: Message) -> None:
        entries = _entries(msg)
        self.host.absorb(msg, SYNC)
        if entries:
            self.repairs += 1
            self.host.learn_values(entries, msg.src, SYNC)


def _ahead(vector: dict[str, int], other: dict[str, int]) -> bool:
    """Whether ``vector`` covers some entry ``other`` does not."""
    return any(seq > other.get(origin, 0) for origin, seq in vector.items())


def _vector(msg: Message, field: str = "vector",
            default: dict[str, int] | None = None) -> dict[str, int]:
    if default is not None and field not in msg.body:
        return default
    try:
        return parse_vector(require(msg.body, field, dict))
    except ValueError as exc:
        raise RPCError.malformed(f"{msg.type}: {exc}") from exc


def _entries(msg: Message) -> list[Entry]:
    try:
        return decode(msg.body.get("entries") or {})
    except ValueError as exc:
        raise RPCError.malformed(f"{msg.type}: {exc}") from exc


def _records(msg: Message) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for item in msg.body.get("members") or ():
        try:
            record = Record.from_wire(item)
        except ValueError:
            continue
        out[record.member] = record
    return out
