"""Epidemic dissemination along the overlay, in batches.

Each node keeps, per overlay neighbour, an *outbox*: the value entries (see
:mod:`values`) and membership records that neighbour may lack. A *flush* sends each
neighbour with a non-empty outbox one ``gossip`` message carrying all of it, and empties
the outbox. Flushes are throttled the way Nagle's algorithm throttles small TCP segments:
when something is queued, the flush happens at once if the last one was at least
``gossip_interval`` ago, and otherwise when that interval is up, taking along everything
queued meanwhile. So a node sends at most one message per neighbour per interval however
many values arrive — traffic is bounded by the overlay, not by the client load — nothing
to a neighbour that lacks nothing, and nothing at all when idle; yet a value arriving at
a quiet node leaves without waiting for a timer.

What goes into whose outbox is where the savings are. A value that comes

* from a client goes to every neighbour;
* in a ``gossip`` message from ``a`` goes to neighbours that are neither ``a`` nor one of
  ``a``'s neighbours: every node knows the overlay, so it knows ``a`` sent the same batch
  to all of them. On the complete graph nobody relays at all (the origin told everyone);
  on a sparse graph the flood is pruned to edges that lead somewhere new;
* by anti-entropy from ``a`` goes to every neighbour but ``a``: it was missing here, so
  it is likely missing around here too (a partition, a lost message). A restarted node
  relays its backlog once this way — a one-off cost, accepted because every path that
  brings a value must pass it on: one that arrives silently first and by gossip later
  would otherwise never be relayed.

Hearing that a neighbour has something (it sent it) also takes it out of that
neighbour's outbox, so two nodes that learn a value at once do not send it to each other.

Losses — a partitioned link, a crashed receiver — are not retried here: anti-entropy
repairs them, which keeps this path free of acks and per-message state. Members
considered dead get nothing, and their outboxes are dropped; when they come back,
anti-entropy brings them up to date.

``broadcast_ok`` is held until the value's batch has been handed to the network, so a node
killed right after acknowledging a value has passed it on already.

Membership news (a suspicion, a death, a refutation) is rare and urgent: it is flushed
within :data:`FLUSH_SOON` whatever the interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from reference_nodes.common.maelstrom import Node

from .config import GossipConfig
from .membership import DEAD, Membership, Record
from .overlay import Overlay
from .values import Key, ValueLog, encode

log = logging.getLogger("reference_nodes.gossip.dissemination")

JSON = dict[str, Any]

# How a value or record arrived, which decides who else may need it.
CLIENT = "client"  # from a client (values) or this node's own verdict (membership)
GOSSIP = "gossip"  # in a gossip batch along the overlay
SYNC = "sync"  # by anti-entropy
PROBE = "probe"  # piggybacked on probe traffic: SWIM's own epidemic carries it on

FLUSH_SOON = 0.01  # membership news waits only this long, to batch near-simultaneous news


class DisseminationHost(Protocol):
    runtime: Node
    config: GossipConfig
    membership: Membership
    overlay: Overlay
    values: ValueLog

    def decorate(self, dest: str, body: JSON, records: Iterable[Record] = ()) -> JSON:
        """Add piggybacked membership records (and ``records``) to an outgoing body."""


class Disseminator:
    """The outboxes and the gossip timer of one node."""

    def __init__(self, host: DisseminationHost) -> None:
        self.host = host
        self.runtime = host.runtime
        self.running = False
        self.value_outbox: dict[str, set[Key]] = {}
        self.member_outbox: dict[str, set[str]] = {}
        self._acks: list[Callable[[], None]] = []
        self._flush_handle: Any = None
        self._flush_at = 0.0  # when the scheduled flush will run
        self._last_flush = float("-inf")

    def start(self) -> None:
        self.running = True

    # -- who needs what -------------------------------------------------------------------

    def recipients(self, source: str | None, via: str) -> frozenset[str]:
        """The neighbours that may lack something that arrived from ``source`` ``via`` ..."""
        overlay = self.host.overlay
        if via == CLIENT:
            return overlay.neighbours
        if via == GOSSIP and source is not None:
            return overlay.neighbours - overlay.neighbours_of(source) - {source}
        if via == SYNC:
            return overlay.neighbours - {source} if source else overlay.neighbours
        return frozenset()  # PROBE

    def spread_values(self, keys: Iterable[Key], source: str | None, via: str) -> None:
        """Queue newly learned entries for the neighbours that may lack them."""
        targets = self.recipients(source, via)
        if not targets:
            return
        keys = list(keys)
        for peer in targets:
            self.value_outbox.setdefault(peer, set()).update(keys)
        self.schedule_flush()

    def known_values(self, keys: Iterable[Key], source: str, via: str) -> None:
        """``source`` sent these entries (``via`` gossip: to all its neighbours too)."""
        holders = {source}
        if via == GOSSIP:
            holders |= self.host.overlay.neighbours_of(source)
        keys = list(keys)
        for peer in holders:
            outbox = self.value_outbox.get(peer)
            if outbox:
                outbox.difference_update(keys)

    def spread_member(self, member: str, source: str | None, via: str) -> None:
        """Queue ``member``'s changed record for the neighbours that may lack it."""
        targets = self.recipients(source, via)
        for peer in targets:
            self.member_outbox.setdefault(peer, set()).add(member)
        if targets:
            self.schedule_flush(urgent=True)

    def known_member(self, member: str, source: str) -> None:
        """``source`` has ``member``'s current record."""
        outbox = self.member_outbox.get(source)
        if outbox:
            outbox.discard(member)

    def forget(self, peer: str) -> None:
        """``peer`` is dead: stop keeping things for it (anti-entropy catches it up later)."""
        self.value_outbox.pop(peer, None)
        self.member_outbox.pop(peer, None)

    # -- sending --------------------------------------------------------------------------

    def defer_ack(self, ack: Callable[[], None]) -> None:
        """Run ``ack`` once what is queued now has been sent (at once if gossip is off)."""
        if self.running:
            self._acks.append(ack)
            self.schedule_flush()
        else:
            ack()

    def schedule_flush(self, urgent: bool = False) -> None:
        """Make sure a flush is coming: now, or when the interval since the last is up."""
        if not self.running:
            return
        now = self.runtime.now()
        due = now + FLUSH_SOON if urgent else max(now, self._last_flush
                                                  + self.host.config.gossip_interval)
        if self._flush_handle is not None:
            if self._flush_at <= due:
                return
            self._flush_handle.cancel()
        self._flush_at = due
        self._flush_handle = self.runtime.after(due - now, self.flush)

    def flush(self) -> None:
        """Send each neighbour that may lack something one batch with all of it."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._last_flush = self.runtime.now()
        membership = self.host.membership
        for peer in sorted(self.host.overlay.neighbours):
            values = self.value_outbox.pop(peer, None)
            members = self.member_outbox.pop(peer, None)
            if not values and not members:
                continue
            if membership.status(peer) == DEAD:
                continue
            body: JSON = {"type": "gossip"}
            if values:
                body["entries"] = encode(self.host.values.entries(sorted(values)))
            records = [membership.get(m) for m in sorted(members or ())]
            self.runtime.send(peer, self.host.decorate(peer, body, records))
        acks, self._acks = self._acks, []
        for ack in acks:
            ack()

    def pending(self) -> dict[str, int]:
        """Entries waiting per neighbour (for dchaos_state)."""
        return {p: len(v) for p, v in sorted(self.value_outbox.items()) if v}
