"""Reliable FIFO channels over a network that loses messages (partitions, crashes).

Each directed channel numbers its messages (``seq`` 1, 2, ...), whatever their type. The
receiver takes only the next number it expects — a later one is dropped and comes again, an
earlier one is a duplicate — and acknowledges cumulatively (``vc_ack {upto}``). The sender
keeps every unacknowledged message, retransmits those not acknowledged within ``retransmit``
seconds, and has at most ``window`` of them in flight. A retransmission carries the same
``msg_id``: it is the same message, sent again.

Chandy-Lamport snapshots rely on this: a marker is never overtaken on its channel.
Acknowledgements are control traffic: they carry no clock and are not events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reference_nodes.common.maelstrom import Message, Node

ACK = "vc_ack"


@dataclass
class Outgoing:
    next_seq: int = 1
    acked: int = 0
    #: seq -> (body, last transmission time or None if never sent)
    unacked: dict[int, list[Any]] = field(default_factory=dict)


class Channels:
    def __init__(self, runtime: Node, peers: list[str], kinds: tuple[str, ...],
                 deliver: Callable[[str, dict[str, Any]], None], retransmit: float,
                 window: int) -> None:
        self.runtime = runtime
        self.deliver = deliver
        self.retransmit = retransmit
        self.window = window
        self.out = {peer: Outgoing() for peer in peers}
        self.expected = {peer: 1 for peer in peers}
        self.next_msg_id = 1
        for kind in kinds:
            runtime.on(kind, self.on_message)
        runtime.on(ACK, self.on_ack)

    # -- sending ----------------------------------------------------------------------

    def enqueue(self, dest: str, body: dict[str, Any]) -> tuple[int, int]:
        """Number ``body`` (which has its ``type``) for ``dest``; it leaves at the next
        :meth:`pump`. Returns (seq, msg_id)."""
        out = self.out[dest]
        seq, msg_id = out.next_seq, self.next_msg_id
        self.restore_send(dest, seq, msg_id, body)
        return seq, msg_id

    def restore_send(self, dest: str, seq: int, msg_id: int, body: dict[str, Any]) -> None:
        """Know of a message sent (now, or by a previous life of the node)."""
        out = self.out[dest]
        out.unacked[seq] = [{**body, "seq": seq, "msg_id": msg_id}, None]
        out.next_seq = max(out.next_seq, seq + 1)
        self.next_msg_id = max(self.next_msg_id, msg_id + 1)

    def restore_receive(self, src: str, seq: int) -> None:
        self.expected[src] = max(self.expected[src], seq + 1)

    def pump(self) -> None:
        """Send what the window allows and retransmit what is overdue."""
        now = self.runtime.now()
        for dest, out in self.out.items():
            for seq in sorted(out.unacked):
                if seq > out.acked + self.window:
                    break
                entry = out.unacked[seq]
                if entry[1] is None or now - entry[1] >= self.retransmit:
                    entry[1] = now
                    self.runtime.send(dest, entry[0])

    def in_flight(self) -> int:
        return sum(len(out.unacked) for out in self.out.values())

    def on_ack(self, msg: Message) -> None:
        out = self.out.get(msg.src)
        upto = msg.body.get("upto")
        if out is None or not isinstance(upto, int):
            return
        if upto > out.acked:
            for seq in [s for s in out.unacked if s <= upto]:
                del out.unacked[seq]
            out.acked = upto
            self.pump()

    # -- receiving --------------------------------------------------------------------

    def on_message(self, msg: Message) -> None:
        src, seq = msg.src, msg.body.get("seq")
        if src not in self.expected or not isinstance(seq, int):
            return
        if seq == self.expected[src]:
            self.expected[src] = seq + 1
            self.deliver(src, msg.body)
        # In order, a duplicate, or too early: say how far this side has got.
        self.runtime.send(src, {"type": ACK, "upto": self.expected[src] - 1})
