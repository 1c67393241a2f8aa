"""SWIM failure detection: probe one member at a time, directly and then through others.

Every ``probe_interval`` a node probes the next member of a shuffled round-robin order
(so every member is probed by every node once per cycle, which bounds detection time).
A probe is a ``ping``; if no ``ack`` comes within the probe timeout, ``k`` other members
are asked to ``ping_req`` the target and relay its ack, which tells a dead member from a
bad link or a slow prober. If neither arrives within two more timeouts, the target is
*suspected*; a suspect that does not refute within the suspicion timeout is declared dead
(:mod:`membership` has the rules, the node spreads the news).

Probes overlap: a new one starts every interval while earlier ones are still waiting, so
the probe rate — and with it the time to first detection — does not depend on how long a
round trip takes. Timeouts follow measured round trips (:mod:`rtt`).

Two guards keep a healthy but busy cluster free of false positives:

* A timeout that fires much later than it was due means this process was not running
  (overloaded, or paused by SIGSTOP): the acks it waited for may be sitting unread on
  stdin. Such a timeout is not evidence, and the wait is extended once.
* Members never heard from are not suspected during ``startup_grace`` after init: the
  nodes of a cluster start one after another, and the last may not be up yet.

Dead members stay in the round-robin and get a bare ping (no ping_req, no verdict): the
ping tells them they are thought dead, so one that is back — restarted, or on the far
side of a healed partition — refutes in its ack and is re-admitted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from reference_nodes.common.maelstrom import (
    Message,
    Node,
    RPCError,
    RPCTimeout,
    optional,
    require,
)

from .config import GossipConfig
from .membership import ALIVE, DEAD, SUSPECT, Membership
from .rtt import RoundTripEstimator

log = logging.getLogger("reference_nodes.gossip.failure_detector")

JSON = dict[str, Any]


class ProbeHost(Protocol):
    """What the failure detector needs from the node it runs in."""

    runtime: Node
    config: GossipConfig
    membership: Membership
    rtt: RoundTripEstimator

    def decorate(self, dest: str, body: JSON) -> JSON:
        """Add piggybacked membership records to an outgoing body."""

    def absorb(self, msg: Message, via: str) -> None:
        """Take in the membership records a message carries."""

    def on_probe_failed(self, member: str) -> None:
        """Neither ``member`` nor anyone on its behalf answered a probe."""

    def on_suspicion_expired(self, member: str, incarnation: int) -> None:
        """``member`` stayed suspect at ``incarnation`` for the whole suspicion timeout."""

    def declare_dead(self, member: str) -> None:
        """Mark ``member`` dead now, and spread it."""


class ProbeSchedule:
    """SWIM's randomised round-robin: each cycle visits every other member once."""

    def __init__(self, members: Callable[[], Iterable[str]], rng: random.Random) -> None:
        self._members = members
        self._rng = rng
        self._order: list[str] = []

    def next(self) -> str | None:
        if not self._order:
            self._order = list(self._members())
            self._rng.shuffle(self._order)
        return self._order.pop() if self._order else None


def _stall_threshold(timeout: float) -> float:
    """How late a timer may fire before we blame our own process, not the peer."""
    return 0.1 + timeout / 4


class FailureDetector:
    """Probing, indirect probing and suspicion timers for one node."""

    def __init__(self, host: ProbeHost, rng: random.Random | None = None) -> None:
        self.host = host
        self.runtime = host.runtime
        self.rng = rng or random.Random()
        self.schedule = ProbeSchedule(host.membership.others, self.rng)
        self.started_at = 0.0
        self.last_heard: dict[str, float] = {}
        #: When each member last answered a request of this node's: proof that messages get
        #: through both ways, which a message it sent on its own is not.
        self.last_answered: dict[str, float] = {}
        self._suspicions: dict[str, tuple[int, asyncio.TimerHandle]] = {}

    def start(self) -> None:
        self.started_at = self.runtime.now()
        self.runtime.every(self.host.config.probe_interval, self._tick)

    def note_heard(self, member: str) -> None:
        """A message came from ``member``: proof of life newer than any running probe."""
        self.last_heard[member] = self.runtime.now()

    def note_answered(self, member: str) -> None:
        """``member`` answered a request of ours (a ping, a ping_req, even too late)."""
        self.last_answered[member] = self.runtime.now()

    def answered_since(self, member: str, since: float) -> bool:
        """Whether ``member`` answered any request of ours since ``since``.

        Only an answer clears a probe that went unanswered. A member that merely spoke to
        us (its own pings, its gossip) is up, but under a one-way cut it talks to us and
        never hears us: from here it has failed, and must be suspected like any other.
        """
        return self.last_answered.get(member, -1.0) >= since

    def in_startup_grace(self, member: str) -> bool:
        """Whether ``member`` may simply not have started yet."""
        grace = self.host.config.startup_grace
        return (member not in self.last_heard
                and self.runtime.now() - self.started_at < grace)

    # -- probing --------------------------------------------------------------------------

    def _tick(self) -> None:
        target = self.schedule.next()
        if target is not None:
            self.runtime.spawn(self.probe(target))

    async def probe(self, target: str) -> None:
        """One SWIM probe of ``target``: direct, then indirect, then a verdict."""
        membership = self.host.membership
        if target not in membership:
            return
        started = self.runtime.now()
        record = membership.get(target)
        timeout = self.host.rtt.timeout(target)
        direct = self._request(target, {"type": "ping"}, 4 * timeout, measure=True)
        if await self._first_answer([direct], timeout):
            return
        if record.status == DEAD:
            return  # a re-probe of the dead: an answer would have carried its refutation
        indirect = [
            self._request(helper, {"type": "ping_req", "target": target,
                                   "timeout_ms": round(2 * timeout * 1000)}, 3 * timeout)
            for helper in self._helpers(target)
        ]
        if await self._first_answer([direct], 2 * timeout, relayed=indirect):
            return
        if self.answered_since(target, started) or membership.get(target) != record:
            # It answered another of our requests, or its record moved on (a refutation),
            # while we waited: this probe's silence is out of date. The next probe will
            # judge afresh.
            return
        self.host.on_probe_failed(target)

    def _helpers(self, target: str) -> list[str]:
        membership = self.host.membership
        alive = [m for m in membership.with_status(ALIVE) if m != target]
        return self.rng.sample(alive, min(self.host.config.indirect_probes, len(alive)))

    def _request(self, dest: str, body: JSON, timeout: float,
                 measure: bool = False) -> asyncio.Future[Message]:
        started = self.runtime.now()
        future = self.runtime.request(dest, self.host.decorate(dest, body), timeout)

        def settled(f: asyncio.Future[Message]) -> None:
            if f.cancelled() or isinstance(f.exception(), RPCTimeout):
                return
            self.note_answered(dest)
            if f.exception() is not None:
                return  # an error is an answer too, but carries no records
            if measure:
                self.host.rtt.observe(dest, self.runtime.now() - started)
            self.host.absorb(f.result(), "probe")

        future.add_done_callback(settled)
        return future

    async def _first_answer(self, direct: list[asyncio.Future[Message]], timeout: float,
                            relayed: Iterable[asyncio.Future[Message]] = ()) -> bool:
        """Whether the target answered, within ``timeout``, a ``direct`` ping or a ``relayed``
        one (a ``ping_req``).

        Any answer to a direct ping counts, an error too: only a live process answers. Only
        an ack counts from a helper: its error says nothing about the target. A wait that
        ends far later than it should (this process was stalled) is extended once.
        """
        from_helpers = set(relayed)

        def answered(f: asyncio.Future[Message]) -> bool:
            if not f.done() or f.cancelled():
                return False
            exc = f.exception()
            return exc is None or (f not in from_helpers and not isinstance(exc, RPCTimeout))

        futures = [*direct, *from_helpers]
        if any(answered(f) for f in futures):
            return True
        loop = self.runtime.loop
        deadline = loop.time() + timeout
        extended = False
        pending = {f for f in futures if not f.done()}
        while pending:
            remaining = deadline - loop.time()
            if remaining > 0:
                done, pending = await asyncio.wait(pending, timeout=remaining,
                                                   return_when=asyncio.FIRST_COMPLETED)
                if any(answered(f) for f in done):
                    return True
                continue
            if not extended and -remaining > _stall_threshold(timeout):
                extended = True
                deadline = loop.time() + timeout
                log.info("timer fired %.0f ms late: not counting this probe timeout as evidence",
                         -remaining * 1000)
                continue
            return False
        return False

    # -- answering probes ---------------------------------------------------------------

    def handle_ping(self, msg: Message) -> JSON:
        # Absorb first: if the ping says we are suspect, the ack already carries the refutation.
        self.host.absorb(msg, "probe")
        return self.host.decorate(msg.src, {"type": "ack"})

    async def handle_ping_req(self, msg: Message) -> JSON | None:
        target = require(msg.body, "target", str)
        timeout_ms = optional(msg.body, "timeout_ms", float, None)
        self.host.absorb(msg, "probe")
        if target not in self.host.membership:
            raise RPCError.malformed(f"ping_req: {target!r} is not a member")
        ack = self.host.decorate(msg.src, {"type": "ack", "target": target})
        if target == self.runtime.node_id:
            return ack
        timeout = timeout_ms / 1000 if timeout_ms else 2 * self.host.rtt.timeout(target)
        future = self._request(target, {"type": "ping"}, timeout, measure=True)
        try:
            await future
        except RPCTimeout:
            return None  # SWIM: say nothing; the requester's own deadline decides
        except RPCError:
            pass  # it answered, if with an error: it is alive
        return self.host.decorate(msg.src, {"type": "ack", "target": target})

    # -- suspicion ------------------------------------------------------------------------

    def suspicion_timeout(self, member: str) -> float:
        """How long ``member`` may stay suspect before it is declared dead.

        At least three probe timeouts to it: refuting takes a round trip or two, and a
        fixed timeout would be too short on a slow network.
        """
        timeout = self.host.config.suspicion_timeout
        if self.host.config.adaptive_timeouts:
            timeout = max(timeout, 3 * self.host.rtt.timeout(member))
        return timeout

    def start_suspicion(self, member: str, incarnation: int, originated: bool) -> None:
        """Start the clock on a suspicion this node raised or heard.

        A node that only heard of it waits a little longer than the one that raised it,
        so the death is normally declared once, by the suspecter, and spread from there.
        """
        self.clear_suspicion(member)
        timeout = self.suspicion_timeout(member)
        if not originated:
            timeout += self.host.rtt.timeout(member)
        self._arm(member, incarnation, timeout, extended=False)

    def _arm(self, member: str, incarnation: int, timeout: float, extended: bool) -> None:
        due = self.runtime.now() + timeout
        handle = self.runtime.loop.call_later(
            timeout, self._suspicion_expired, member, incarnation, due, timeout, extended)
        self._suspicions[member] = (incarnation, handle)

    def clear_suspicion(self, member: str) -> None:
        entry = self._suspicions.pop(member, None)
        if entry is not None:
            entry[1].cancel()

    def _suspicion_expired(self, member: str, incarnation: int, due: float, timeout: float,
                           extended: bool) -> None:
        self._suspicions.pop(member, None)
        record = self.host.membership.get(member)
        if record.status != SUSPECT or record.incarnation != incarnation:
            return
        late = self.runtime.now() - due
        if not extended and late > _stall_threshold(timeout):
            # We were not running; a refutation may be waiting unread. Look again shortly.
            self._arm(member, incarnation, min(timeout, 1.0), extended=True)
            return
        self.host.on_suspicion_expired(member, incarnation)

    def suspicions(self) -> dict[str, float]:
        """Seconds left on each running suspicion timer (for dchaos_state)."""
        now = self.runtime.now()
        return {m: round(max(0.0, h.when() - now), 3) for m, (_, h) in self._suspicions.items()}
