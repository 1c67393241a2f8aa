"""The vector-clock node: causal broadcast, transfers and Chandy-Lamport snapshots.

Client messages (the contract in docs/nodes/vector_clock.md):

* ``cbcast {message}`` → ``cbcast_ok {vc}``: broadcast ``message`` in causal order; ``vc``
  is the event clock of the broadcast;
* ``read`` → ``read_ok {delivered: [{message, sender, vc}]}``: every broadcast this node
  has delivered (its own included), in delivery order, each with its broadcast's clock;
* ``transfer {to, amount}`` → ``transfer_ok {balance}``: move units of this node's balance
  to node ``to`` (error 22 if the balance is short, 12 if the request is malformed);
* ``snapshot`` → ``snapshot_ok {id}``: start a Chandy-Lamport snapshot;
* ``dchaos_state`` → ``dchaos_state_ok {vc, events, snapshots, balance, delivered,
  held_back, in_flight}``.

Between nodes everything travels on reliable FIFO channels (:mod:`.channels`), each message
with ``seq``, ``msg_id``, ``vc`` (the clock of its send event) and ``what``; its type is
``vc_<what>``: ``vc_cbcast {origin, seq_b, deps, message}``, ``vc_transfer {amount}`` or
``vc_marker {id}``; ``vc_ack {upto}`` acknowledges.

The node is event-sourced: every state change is an event in the log (:mod:`.eventlog`),
and :meth:`VectorClockNode.apply` is the one place where an event changes the state - live,
and when a restarted node replays its log. Behaviours are methods, so the deliberately
broken variants the checkers are tested against override exactly one of them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from reference_nodes.common.maelstrom import ErrorCode, Message, Node, RPCError, require

from .channels import Channels
from .clock import Clock, deliverable
from .eventlog import Event, EventLog

log = logging.getLogger("reference_nodes.vector_clock")

JSON = dict[str, Any]
LOG_FILE = "events.jsonl"
#: What travels between nodes; a message's type is ``vc_<what>`` (``vc_cbcast``, ...).
KINDS = ("cbcast", "transfer", "marker")
#: Fields of a message body that its send and receive events show (the rest - the
#: broadcast's message and dependencies, the wire numbering - stays in the private body).
SHOWN = ("origin", "seq_b", "amount", "id")


class Snapshot:
    """One Chandy-Lamport snapshot as this node takes part in it."""

    def __init__(self, snapshot_id: str, state: JSON, at: int, peers: list[str],
                 first_from: str | None) -> None:
        self.id = snapshot_id
        self.state = state
        self.at = at  # the own clock entry of the recording event
        self.channels: dict[str, list[JSON]] = {p: [] for p in peers}
        self.open = {p for p in peers if p != first_from}

    def to_json(self) -> JSON:
        return {"id": self.id, "state": self.state, "at": self.at, "channels": self.channels,
                "complete": not self.open}


class VectorClockNode:
    def __init__(self, runtime: Node | None = None) -> None:
        self.runtime = runtime or Node()
        self.runtime.on_many({"cbcast": self.on_cbcast, "read": self.on_read,
                              "transfer": self.on_transfer, "snapshot": self.on_snapshot,
                              "dchaos_state": self.on_dchaos_state})
        self.runtime.declare_extensions("dchaos_state")
        self.runtime.on_init(self.setup)

    def run(self) -> int:
        return self.runtime.run()

    # -- set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        runtime, params = self.runtime, self.runtime.params
        assert runtime.node_id is not None
        self.me = runtime.node_id
        self.peers = [n for n in runtime.node_ids if n != self.me]
        self.initial_balance = params.integer("initial_balance", 100, minimum=0)
        persist = params.boolean("persist", True)
        self.channels = Channels(runtime, self.peers, tuple(f"vc_{k}" for k in KINDS),
                                 self.on_channel_message,
                                 params.duration("retransmit_ms", 200, minimum_ms=1),
                                 params.integer("window", 64, minimum=1))
        self.balance = self.initial_balance
        self.delivered_count: Clock = {}
        self.delivered: list[JSON] = []
        self.held: dict[tuple[str, int], JSON] = {}
        self.broadcasts = 0
        self.snapshots: dict[str, Snapshot] = {}
        self.pending_first_marker: dict[str, str] = {}
        self.log = EventLog(self.me, os.path.abspath(LOG_FILE) if persist else None)
        previous = self.log.load()
        for event in previous:
            self.apply(event)
        self.log.open()
        self.commit(self.log.new("start", restarts=sum(e["kind"] == "start" for e in previous)))
        if previous:
            log.info("replayed %d event(s) of a previous life; %d message(s) to resend, "
                     "%d held back", len(previous), self.channels.in_flight(), len(self.held))
        self.try_deliver()
        self.channels.pump()
        runtime.every(self.channels.retransmit / 2, self.channels.pump)

    # -- events: the one place state changes ------------------------------------------

    def commit(self, event: Event) -> Event:
        self.apply(event)
        self.log.commit(event)
        return event

    def apply(self, event: Event) -> None:
        kind = event["kind"]
        if kind == "send":
            body = event["body"]
            for dest, (seq, msg_id) in event["wire"].items():
                self.channels.restore_send(dest, seq, msg_id, body)
            if body["what"] == "cbcast":
                self.broadcasts = body["seq_b"]
            elif body["what"] == "transfer":
                self.balance -= body["amount"]
        elif kind == "receive":
            body, src = event["body"], event["from"]
            self.channels.restore_receive(src, body["seq"])
            self.record_in_transit(src, body)
            if body["what"] == "cbcast":
                self.held[(body["origin"], body["seq_b"])] = body
            elif body["what"] == "transfer":
                self.balance += body["amount"]
            elif body["what"] == "marker":
                snapshot = self.snapshots.get(body["id"])
                if snapshot is None:
                    self.pending_first_marker[body["id"]] = src
                else:
                    snapshot.open.discard(src)
        elif kind == "deliver":
            key = (event["origin"], event["seq_b"])
            body = self.held.pop(key, None) or event["body"]
            self.delivered_count[key[0]] = key[1]
            self.delivered.append({"message": body["message"], "sender": key[0],
                                   "vc": body["vc"]})
        elif kind == "snapshot":
            first = self.pending_first_marker.pop(event["id"], None)
            self.snapshots[event["id"]] = Snapshot(event["id"], event["state"], event["i"],
                                                   self.peers, first)

    def record_in_transit(self, src: str, body: JSON) -> None:
        """Chandy-Lamport: a message that arrives on a channel still being recorded was in
        transit when the snapshot was taken."""
        if body["what"] == "marker":
            return
        entry = {"msg_id": body["msg_id"], "what": body["what"]}
        if body["what"] == "transfer":
            entry["amount"] = body["amount"]
        for snapshot in self.snapshots.values():
            if src in snapshot.open:
                snapshot.channels[src].append(entry)

    # -- sending ------------------------------------------------------------------------

    def send_all(self, body: JSON, dests: list[str] | None = None) -> Event:
        """One send event carrying ``body`` to ``dests`` (every peer by default)."""
        event = self.log.new("send", what=body["what"],
                             **{k: body[k] for k in SHOWN if k in body})
        body = {**body, "type": f"vc_{body['what']}", "vc": event["vc"]}
        wire = {}
        for dest in self.peers if dests is None else dests:
            seq, msg_id = self.channels.enqueue(dest, body)
            wire[dest] = [seq, msg_id]
        event["to"] = {dest: msg_id for dest, (_, msg_id) in wire.items()}
        event["wire"], event["body"] = wire, body
        self.commit(event)
        self.channels.pump()
        return event

    # -- causal broadcast -----------------------------------------------------------------

    def on_cbcast(self, msg: Message) -> None:
        if "message" not in msg.body:
            raise RPCError.malformed("cbcast needs a message")
        event = self.send_all({"what": "cbcast", "origin": self.me,
                               "seq_b": self.broadcasts + 1, "deps": dict(self.delivered_count),
                               "message": msg.body["message"]})
        self.deliver(event["body"])
        self.runtime.reply(msg, {"type": "cbcast_ok", "vc": event["vc"]})

    def deliver(self, body: JSON) -> None:
        # The message rides along so that the harness can match the log to what clients
        # read, entry by entry.
        self.commit(self.log.new("deliver", origin=body["origin"], seq_b=body["seq_b"],
                                 message=body["message"], body=body))

    def try_deliver(self) -> None:
        """Deliver every held-back broadcast whose causal past has been delivered."""
        progress = True
        while progress:
            progress = False
            for (origin, seq), body in sorted(self.held.items()):
                if deliverable(origin, seq, body["deps"], self.delivered_count):
                    self.deliver(body)
                    progress = True
                elif self.delivered_count.get(origin, 0) >= seq:
                    del self.held[(origin, seq)]  # already delivered (never happens in order)
                    progress = True

    def on_read(self, msg: Message) -> None:
        self.runtime.reply(msg, {"type": "read_ok", "delivered": self.delivered})

    # -- messages from peers ----------------------------------------------------------------

    def on_channel_message(self, src: str, body: JSON) -> None:
        if body.get("what") not in KINDS or not isinstance(
                body.get("vc"), dict):
            log.warning("ignoring a malformed message from %s: %r", src, body)
            return
        self.commit(self.log.new("receive", received=body["vc"], what=body["what"],
                                 msg_id=body["msg_id"], body=body, **{"from": src},
                                 **{k: body[k] for k in SHOWN if k in body}))
        if body["what"] == "cbcast":
            self.try_deliver()
        elif body["what"] == "marker" and body["id"] not in self.snapshots:
            self.take_snapshot(body["id"], first_from=src)

    # -- transfers ------------------------------------------------------------------------

    def on_transfer(self, msg: Message) -> None:
        to, amount = require(msg.body, "to", str), require(msg.body, "amount", int)
        if to not in self.peers or amount <= 0:
            raise RPCError.malformed(f"transfer needs another node and a positive amount, "
                                     f"not {to!r} and {amount!r}")
        if amount > self.balance:
            raise RPCError(ErrorCode.PRECONDITION_FAILED,
                           f"balance {self.balance} is short of {amount}")
        self.send_all({"what": "transfer", "amount": amount}, [to])
        self.runtime.reply(msg, {"type": "transfer_ok", "balance": self.balance})

    # -- snapshots ------------------------------------------------------------------------

    def on_snapshot(self, msg: Message) -> None:
        snapshot_id = f"{self.me}.{1 + sum(s.startswith(self.me + '.') for s in self.snapshots)}"
        self.take_snapshot(snapshot_id, first_from=None)
        self.runtime.reply(msg, {"type": "snapshot_ok", "id": snapshot_id})

    def local_state(self) -> JSON:
        return {"balance": self.balance, "delivered": sum(self.delivered_count.values())}

    def take_snapshot(self, snapshot_id: str, first_from: str | None) -> None:
        """Record the local state, then a marker on every outgoing channel."""
        if first_from is not None:
            self.pending_first_marker[snapshot_id] = first_from
        self.commit(self.log.new("snapshot", id=snapshot_id, state=self.local_state()))
        self.send_all({"what": "marker", "id": snapshot_id})

    # -- state ----------------------------------------------------------------------------

    def on_dchaos_state(self, msg: Message) -> None:
        self.runtime.reply(msg, {
            "type": "dchaos_state_ok", "vc": self.log.clock, "events": self.log.public(),
            "snapshots": [s.to_json() for s in self.snapshots.values()],
            "balance": self.balance, "initial_balance": self.initial_balance,
            "delivered": len(self.delivered), "held_back": len(self.held),
            "in_flight": self.channels.in_flight()})


def main() -> int:
    return VectorClockNode().run()
