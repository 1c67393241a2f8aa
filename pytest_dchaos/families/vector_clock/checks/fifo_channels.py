"""The ``fifo_channels`` check: each node takes each channel's messages in the order their
sender wrote them — the node's log held to the message trace.

What "FIFO channel" means here. The transport under the nodes is not FIFO: the ``message``
fault holds single messages back (``reorder``), a retransmission can overtake what follows
it, a partition loses messages. Chandy-Lamport needs reliable FIFO channels, so a node that
snapshots must build them itself (sequence numbers, retransmission), as TCP does over IP.
The check therefore judges the node's channel *layer*, not the wire: on each channel p → q,
the messages q says it took (its event log's receives) must be those the trace shows p wrote
to q, taken in the order p wrote them (the sending agent's word), without a gap — taking a
message means every message p wrote before it on that channel was taken first, whether or
not the transport ever delivered it. How often the transport did reorder is a figure, so a
pass says whether the node had anything to put back in order.

The log is cross-checked against the trace first: a receive of a message the trace never
handed to that node on that channel fails, as does a message taken twice; and the log's
order must fit the agent's timeline — a receive logged before one of the node's own sends
means the message arrived before that send was written.
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.families.vector_clock.wire import Key, Wire, named, wire
from pytest_dchaos.record.result import RunRecord, Verdict


class FifoChannels(CausalCheck[NoOptions]):
    name = "fifo_channels"
    doc = ("Each node takes the messages of each channel in the order its sender wrote them, "
           "without a gap (reliable FIFO, what Chandy-Lamport snapshots rely on): the order "
           "the node's log says it took them in, against the order the sending agent saw "
           "them written. The transport may reorder (the `message` fault's reorder); the "
           "node must put the order back. Every logged receive must be a message the trace "
           "handed that node on that channel, none taken twice, and a receive logged before "
           "one of the node's sends must have arrived before that send was written.")
    evidence = "both"
    requires = frozenset({"dchaos_state"})
    blind_to = ("Messages a node took but left out of its log, unless it later took one its "
                "sender wrote after them (then the gap shows); what a node does with a "
                "message between taking it and logging the next event; a node that left no "
                "log (down at the end with no events.jsonl) is not judged.")

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        seen = wire(record)
        names = named(facts.logs)
        kinds = names.channel_types(seen)
        problems: list[str] = []
        taken = 0
        channels: set[tuple[str, str]] = set()
        for node, events in facts.logs.items():
            if facts.sources.get(node) == "missing":
                continue
            took: dict[str, list[tuple[Any, int]]] = {}
            node_problems = _receives(node, events, seen, took)
            node_problems += _timeline(node, events, seen)
            for src, messages in sorted(took.items()):
                channels.add((src, node))
                taken += len(messages)
                if seen.complete(src, node):
                    node_problems += _channel(src, node, messages, seen, kinds)
            problems += node_problems
        reordered = _transport_reordered(seen, kinds)
        figures = {"taken": taken, "channels": len(channels), "problems": len(problems),
                   "reordered_in_transport": reordered, "trace_incomplete": sorted(seen.torn)}
        if problems:
            return self.verdict(False, f"{len(problems)} fault(s) in how nodes took their "
                                "channels' messages: " + "; ".join(problems[:SHOWN])
                                + seen.torn_note(),
                                witness={"problems": problems[:50]}, figures=figures)
        if not taken:
            return self.verdict(False, "no node logged taking a message from another, so "
                                "no channel order to judge", figures=figures)
        transport = (f"the transport handed over {reordered} out of order and the nodes put "
                     "them back" if reordered else
                     "the transport itself kept every channel in order (no reordering to "
                     "repair: add a `message` fault with `reorder` to test it)")
        return self.verdict(True, f"{taken} messages on {len(channels)} channels, each taken "
                            f"in the order its sender wrote it, every one confirmed by the "
                            f"trace where it is whole; {transport}" + seen.torn_note(),
                            figures=figures)


def _receives(node: str, events: list[dict[str, Any]], seen: Wire,
              took: dict[str, list[tuple[Any, int]]]) -> list[str]:
    """Each logged receive against the trace: handed to this node, on that channel, once."""
    problems: list[str] = []
    once: dict[Key, int] = {}
    for position, event in enumerate(events, start=1):
        if event.get("kind") != "receive":
            continue
        src, msg_id = str(event.get("from")), event.get("msg_id")
        key = (src, msg_id, node)
        what = f"{node}'s log (event {position}) takes msg_id {msg_id!r} from {src}"
        if not isinstance(msg_id, (int, str)) or not seen.arrived(key):
            if not seen.complete(src, node):
                continue  # the trace lost what would show it
            why = ("but the trace shows it written to "
                   f"{node} and never handed over" if key in seen.written else
                   f"but the trace never shows {src} writing msg_id {msg_id!r} to {node}")
            problems.append(f"{what}, {why}")
            continue
        if key in once:
            problems.append(f"{what} a second time (first at event {once[key]})")
            continue
        once[key] = position
        took.setdefault(src, []).append((msg_id, position))
    return problems


def _timeline(node: str, events: list[dict[str, Any]], seen: Wire) -> list[str]:
    """A receive logged before a send: the message must have reached the node before the
    send was written (the agent saw both). One sentence per node: the rest follow."""
    if not seen.complete(node):
        return []
    later_write: int | None = None
    later: tuple[Any, str, int] | None = None
    for position in range(len(events), 0, -1):
        event = events[position - 1]
        if event.get("kind") == "send":
            for dest, msg_id in (event.get("to") or {}).items():
                at = seen.written.get((node, msg_id, str(dest))) \
                    if isinstance(msg_id, (int, str)) else None
                if at is not None and (later_write is None or at < later_write):
                    later_write, later = at, (msg_id, str(dest), position)
        elif event.get("kind") == "receive" and later_write is not None:
            key = (str(event.get("from")), event.get("msg_id"), node)
            if not seen.complete(key[0]):
                continue  # its first copy may be one the trace lost
            first = seen.first_arrival(key) if isinstance(key[1], (int, str)) else None
            if first is not None and first > later_write and later is not None:
                msg_id, dest, sent_at = later
                return [f"{node}'s log takes msg_id {key[1]!r} from {key[0]} (event "
                        f"{position}) before it sends msg_id {msg_id!r} to {dest} (event "
                        f"{sent_at}), but its agent wrote that send before the message "
                        f"from {key[0]} reached it ({seen.when(key)})"]
    return []


def _channel(src: str, node: str, messages: list[tuple[Any, int]], seen: Wire,
             kinds: set[str]) -> list[str]:
    """The order ``node`` took ``src``'s messages in, against the order ``src`` wrote them:
    none after a later one, none skipped. One sentence per channel."""
    order = [m for m in seen.sent.get((src, node), [])
             if seen.types.get((src, m, node)) in kinds]
    rank = {m: i for i, m in enumerate(order)}
    highest = -1
    for msg_id, position in messages:
        r = rank.get(msg_id, -1)
        if r < highest:
            overtaker = order[highest]
            return [f"{node} took msg_id {msg_id!r} from {src} (its event {position}) after "
                    f"msg_id {overtaker!r}, which {src} wrote after it: channel {src} → "
                    f"{node} not FIFO"]
        highest = max(highest, r)
    taken = {m for m, _ in messages}
    for r in range(highest):
        if order[r] not in taken:
            skipped, later = order[r], order[highest]
            how = ("it reached " + node if seen.arrived((src, skipped, node))
                   else "the transport never delivered it")
            return [f"{node} took msg_id {later!r} from {src} but never msg_id {skipped!r}, "
                    f"which {src} wrote before it ({how}): a gap in channel {src} → {node}, "
                    "or a receive left out of the log"]
    return []


def _transport_reordered(seen: Wire, kinds: set[str]) -> int:
    """Messages the transport handed over after one their sender wrote later (figures)."""
    count = 0
    for (src, dest), order in seen.sent.items():
        latest = -1
        for msg_id in order:
            key = (src, msg_id, dest)
            first = seen.first_arrival(key)
            if first is None or seen.types.get(key) not in kinds:
                continue
            if first < latest:
                count += 1
            latest = max(latest, first)
    return count
