"""The vector-clock family's checks, over the harness's own happens-before.

All of them read one shared :class:`Analysis` of the run (built once per record): every
node's event log — from its ``dchaos_state``, or for a node that was down at the end from
the ``events.jsonl`` it left in its folder — and the family's happens-before model
(``causality``) built from those logs and the message trace.

* ``causal_delivery``: no node delivers a broadcast before one in its causal past, none
  delivers one twice or one that was never broadcast;
* ``delivered_everywhere``: every acknowledged broadcast is delivered on every live node;
* ``vector_clocks``: the clocks nodes report order two events exactly when one happened
  before the other — every concurrent pair is concurrent, no false order, no missed one;
* ``snapshots``: each snapshot is a consistent cut, its channel states are exactly the
  messages in transit, and it conserves the resource;
* ``fifo_channels``: each channel delivers in the order it was sent;
* ``shiviz_log``: the nodes' clocks obey the rules ShiViz enforces, so their logs open.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.vector_clock import causality
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

DELIVERY = "delivery"  # the family's final-phase observation
SHOWN = 5


@dataclass
class Analysis:
    logs: dict[str, list[dict[str, Any]]]
    #: Where each node's log came from: "state", "file" (left on disk) or "missing".
    sources: dict[str, str]
    causality: Causality | None
    hold_back: list[float] = field(default_factory=list)
    valid_node_clocks: bool = False
    clock_problems: list[str] = field(default_factory=list)
    _own: dict[str, list[int]] = field(default_factory=dict)
    _messages: list[tuple[str, int, str, int, Any, Any]] | None = None

    def missing(self) -> list[str]:
        return [n for n, how in self.sources.items() if how == "missing"]

    def own_entries(self, node: str) -> list[int]:
        """The node's own clock entry at each of its events, in log order."""
        if node not in self._own:
            self._own[node] = [int((e.get("vc") or {}).get(node, 0))
                               for e in self.logs.get(node, [])]
        return self._own[node]

    def messages(self) -> list[tuple[str, int, str, int, Any, Any]]:
        """Every trace-confirmed message but markers: (receiver, its event, sender, its
        event, msg_id, what)."""
        if self._messages is None:
            assert self.causality is not None
            events = self.causality.events
            self._messages = []
            for (q, r_pos), (p, s_pos) in self.causality.edges.items():
                event = events[q][r_pos - 1]
                if event.get("what") != "marker":
                    self._messages.append((q, r_pos, p, s_pos, event.get("msg_id"),
                                           event.get("what")))
        return self._messages


def analysis(record: RunRecord) -> Analysis:
    """The shared analysis of ``record`` (computed on first use)."""
    return record.derive("causal", _analyse)


def _analyse(record: RunRecord) -> Analysis:
    logs: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, str] = {}
    for node in record.nodes:
        events = (record.node_states.get(node) or {}).get("events")
        if isinstance(events, list):
            logs[node], sources[node] = [e for e in events if isinstance(e, dict)], "state"
            continue
        left = _read_left_log(record.node_dirs.get(node))
        logs[node], sources[node] = left or [], "file" if left is not None else "missing"
    if not any(logs.values()):
        return Analysis(logs, sources, None)
    model = causality.build(logs, record.nodes, record.trace())
    facts = Analysis(logs, sources, model, hold_back=_hold_back(logs))
    facts.clock_problems = shiviz_problems(logs)
    facts.valid_node_clocks = not facts.clock_problems
    return facts


def _read_left_log(folder: Any) -> list[dict[str, Any]] | None:
    if folder is None:
        return None
    path = folder / "events.jsonl"
    if not path.exists():
        return None
    events = []
    with open(path, encoding="utf-8") as source:
        for line in source:
            try:
                events.append(json.loads(line))
            except ValueError:
                break  # a torn last line: the event never took effect
    return events


def _hold_back(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[float]:
    """Seconds between a broadcast's receipt and its delivery, per node and broadcast."""
    delays = []
    for events in logs.values():
        received: dict[tuple[Any, Any], float] = {}
        for event in events:
            key = (event.get("origin"), event.get("seq_b"))
            if event.get("kind") == "receive" and event.get("what") == "cbcast":
                received.setdefault(key, event.get("t", 0.0))
            elif event.get("kind") == "deliver" and key in received:
                delays.append(max(0.0, float(event.get("t", 0.0)) - received[key]))
    return delays


class CausalCheck(CheckerType):
    """A check over the shared analysis; it refuses to judge a run without event logs."""

    protocols = ("vector_clock",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        facts = analysis(record)
        if facts.causality is None:
            return self.verdict(False, "no node reported an event log (dchaos_state_ok "
                                "`events`), so there is nothing to judge; see "
                                "docs/nodes/vector_clock.md for what a node must report")
        return self.judge(options, record, facts, facts.causality)

    @abstractmethod
    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        """Judge the run, given its analysis and happens-before model."""


def _problems_text(model: Causality) -> str:
    parts = [f"{count} {kind.replace('_', ' ')}(s), e.g. {model.problems[kind][0]}"
             for kind, count in model.problem_counts.items()]
    return "; ".join(parts)


class CausalDelivery(CausalCheck):
    name = "causal_delivery"
    doc = ("No node delivers a broadcast before every broadcast in its causal past (what "
           "its origin had delivered when it sent it); none is delivered twice, and none "
           "that was never broadcast.")

    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        violations: list[str] = []
        count = deliveries = 0
        for node, events in facts.logs.items():
            delivered: dict[str, int] = {}
            for position, event in enumerate(events, start=1):
                if event.get("kind") != "deliver":
                    continue
                deliveries += 1
                origin, seq = str(event.get("origin")), event.get("seq_b")
                key = (origin, seq if isinstance(seq, int) else -1)
                problem = None
                if key not in model.broadcasts and facts.sources.get(origin) != "missing":
                    problem = f"{node} delivered {origin}#{seq}, which {origin} never broadcast"
                elif isinstance(seq, int) and delivered.get(origin, 0) >= seq:
                    problem = f"{node} delivered {origin}#{seq} twice"
                elif isinstance(seq, int) and delivered.get(origin, 0) != seq - 1:
                    problem = (f"{node} delivered {origin}#{seq} before {origin}#"
                               f"{delivered.get(origin, 0) + 1} (same origin, earlier)")
                else:
                    for other, need in sorted(model.causal_past.get(key, {}).items()):
                        if delivered.get(other, 0) < need:
                            problem = (f"{node} delivered {origin}#{seq} (its event {position}) "
                                       f"before {other}#{delivered.get(other, 0) + 1}, "
                                       f"which is in its causal past")
                            break
                if problem:
                    count += 1
                    if len(violations) < SHOWN:
                        violations.append(problem)
                if isinstance(seq, int):
                    delivered[origin] = max(delivered.get(origin, 0), seq)
        figures = {"deliveries": deliveries, "violations": count,
                   "broadcasts": len(model.broadcasts)}
        if count:
            return self.verdict(False, f"{count} of {deliveries} deliveries broke causal "
                                f"order: " + "; ".join(violations),
                                evidence={"violations": violations}, figures=figures)
        if not deliveries:
            return self.verdict(False, "no node delivered any broadcast", figures=figures)
        return self.verdict(True, f"{deliveries} deliveries of {len(model.broadcasts)} "
                            "broadcasts, all in causal order", figures=figures)


class DeliveredEverywhere(CheckerType):
    name = "delivered_everywhere"
    doc = ("Every acknowledged broadcast is delivered on every node that is live at the end "
           "(read after the faults heal), optionally within a time of the final heal.")
    protocols = ("vector_clock",)
    options = s.Struct((s.Field("within", s.Duration(), "time after the final heal by which "
                                "every live node must have delivered everything", None),))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        seen = record.observations.get(DELIVERY)
        if not seen:
            return self.verdict(False, "the final phase did not run, so nothing was read")
        acknowledged = {op.value for op in record.history.ops
                        if op.f == "cbcast" and op.type == OK}
        if not acknowledged:
            return self.verdict(False, "no broadcast was acknowledged, so there is nothing "
                                "to find on the nodes")
        reads = seen.get("final_reads", {})
        missing = {n: sorted(acknowledged - set(reads.get(n, []))) for n in seen["live_nodes"]}
        unread = [n for n in seen["live_nodes"] if n not in reads]
        lacking = {n: m for n, m in missing.items() if m and n not in unread}
        if unread or lacking:
            parts = [f"{n} lacks {len(m)} (e.g. {m[:SHOWN]})" for n, m in lacking.items()]
            if unread:
                parts.append(f"no final read succeeded on {', '.join(unread)}")
            return self.verdict(False, f"of {len(acknowledged)} acknowledged broadcasts: " +
                                "; ".join(parts), evidence={"missing": lacking})
        took = (seen["converged_at"] - seen["healed_at"]
                if seen.get("converged_at") is not None else None)
        within = options.get("within")
        if within is not None and took is not None and took > within:
            return self.verdict(False, f"every live node delivered all {len(acknowledged)} "
                                f"broadcasts, but {took:.2f}s after the heal (> {within:g}s)")
        return self.verdict(True, f"{len(seen['live_nodes'])} live nodes delivered all "
                            f"{len(acknowledged)} acknowledged broadcasts"
                            + (f", {took:.2f}s after the heal" if took is not None else ""),
                            figures={"seconds": took})


class VectorClocks(CausalCheck):
    name = "vector_clocks"
    doc = ("The vector clocks nodes report order two events exactly when one happened "
           "before the other in the harness's own happens-before (message trace plus each "
           "node's order): no false order, no missed order, every concurrent pair "
           "concurrent. Also fails when a log claims a receive the trace never carried.")

    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        judged = [n for n in model.nodes if facts.sources[n] != "missing"]
        own: dict[str, list[int]] = {}
        broken: list[str] = []
        for node in judged:
            entries = facts.own_entries(node)
            if any(b <= a for a, b in pairwise(entries)):
                broken.append(f"{node}'s own clock entry does not rise with each event")
            own[node] = entries
        columns = {n: model.column(n) for n in judged}
        false_order = missed = 0
        examples: list[str] = []
        total = model.total_events()
        ordered_pairs = 0
        for node in judged:
            for position, event in enumerate(model.events[node], start=1):
                truth = model.clocks[node][position - 1]
                ordered_pairs += sum(truth) - 1
                claimed_clock = event.get("vc") or {}
                for other in judged:
                    if other == node:
                        continue
                    true_prefix = truth[columns[other]]
                    claimed = bisect_right(own[other], int(claimed_clock.get(other, 0)))
                    if claimed == true_prefix:
                        continue
                    if claimed > true_prefix:
                        false_order += claimed - true_prefix
                        what = (f"{node} event {position} ({event.get('kind')}) claims to come "
                                f"after {other} event {claimed}, but only {other}'s first "
                                f"{true_prefix} happened before it")
                    else:
                        missed += true_prefix - claimed
                        what = (f"{node} event {position} ({event.get('kind')}) does not "
                                f"order {other} event {true_prefix} before it, though it "
                                "happened before")
                    if len(examples) < SHOWN:
                        examples.append(what)
        pairs = total * (total - 1) // 2
        figures = {"events": total, "pairs": pairs, "ordered_pairs": ordered_pairs,
                   "concurrent_pairs": pairs - ordered_pairs, "false_order": false_order,
                   "missed_order": missed}
        skipped = facts.missing()
        note = (f" ({', '.join(skipped)} left no log and was not judged)" if skipped else "")
        if model.problem_counts:
            broken.append(_problems_text(model))
        if broken or false_order or missed:
            if false_order or missed:
                broken.append(f"{false_order} pair(s) ordered that are not, {missed} "
                              "happened-before pair(s) not ordered: " + "; ".join(examples))
            return self.verdict(False, "; ".join(broken) + note,
                                evidence={"examples": examples}, figures=figures)
        return self.verdict(True, f"{total} events, {pairs} pairs: the reported clocks order "
                            f"exactly the {ordered_pairs} pairs that happened-before and "
                            f"leave the {pairs - ordered_pairs} concurrent pairs concurrent"
                            + note, figures=figures)


class Snapshots(CausalCheck):
    name = "snapshots"
    doc = ("Every snapshot is a consistent cut (no message received inside it was sent "
           "outside it), each recorded channel state is exactly the messages in transit "
           "across the cut, and the resource is conserved (balances plus transfers in "
           "transit equal the total). Acknowledged snapshots must complete on every node, "
           "unless a node is down for good at the end (then they cannot).")
    options = s.Struct((s.Field("complete", s.Bool(), "require every acknowledged snapshot "
                                "to complete", True),))

    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        asked = [op.value for op in record.history.ops if op.f == "snapshot" and op.type == OK]
        records: dict[str, dict[str, dict[str, Any]]] = {}
        for node in record.nodes:
            for snap in (record.node_states.get(node) or {}).get("snapshots") or []:
                if isinstance(snap, dict) and "id" in snap:
                    records.setdefault(str(snap["id"]), {})[node] = snap
        initial = sum(int((record.node_states.get(n) or {}).get("initial_balance", 0))
                      for n in record.nodes)
        problems: list[str] = []
        judged = incomplete = 0
        up = [n for n in record.nodes if n not in record.down_at_end]
        for snap_id in sorted(records):
            parts = records[snap_id]
            if not all(n in parts and parts[n].get("complete") for n in record.nodes):
                incomplete += 1
                # A snapshot needs a marker from every node: with one down for good it
                # cannot complete, which is the algorithm, not a fault of the nodes.
                if options["complete"] and snap_id in asked and not record.down_at_end \
                        and not all(parts.get(n, {}).get("complete") for n in up):
                    lagging = [n for n in up if not parts.get(n, {}).get("complete")]
                    problems.append(f"snapshot {snap_id} did not complete on "
                                    f"{', '.join(lagging)}")
                continue
            judged += 1
            problems += [f"snapshot {snap_id}: {p}" for p in
                         _judge_snapshot(facts, parts, initial, record.nodes)]
        never = [i for i in asked if i not in records]
        if options["complete"] and never:
            problems.append(f"snapshot(s) {', '.join(map(str, never[:SHOWN]))} were "
                            "acknowledged but no node recorded them")
        figures = {"snapshots": len(records), "judged": judged, "incomplete": incomplete,
                   "total": initial}
        if problems:
            return self.verdict(False, "; ".join(problems[:SHOWN]) +
                                (f" (and {len(problems) - SHOWN} more)"
                                 if len(problems) > SHOWN else ""),
                                evidence={"problems": problems[:50]}, figures=figures)
        if not judged:
            down = ", ".join(sorted(record.down_at_end))
            why = ("no snapshot was taken (raise workload.snapshot_ratio)" if not asked else
                   f"no snapshot could be judged: {down} is down at the end, and what it "
                   "recorded went with it" if down else "no snapshot completed")
            return self.verdict(False, why, figures=figures)
        return self.verdict(True, f"{judged} complete snapshot(s): consistent cuts, exact "
                            f"channel states, {initial} units conserved in each"
                            + (f" ({incomplete} incomplete, excused)" if incomplete else ""),
                            figures=figures)


def _position(facts: Analysis, node: str, i: Any) -> int | None:
    """The position in ``node``'s log of the event whose own clock entry is ``i``."""
    own = facts.own_entries(node)
    position = bisect_left(own, i) if isinstance(i, int) else len(own)
    return position + 1 if position < len(own) and own[position] == i else None


def _judge_snapshot(facts: Analysis, parts: Mapping[str, Mapping[str, Any]], initial: int,
                    nodes: Sequence[str]) -> list[str]:
    problems = []
    cut: dict[str, int] = {}
    for node in nodes:
        position = _position(facts, node, parts[node].get("at"))
        if position is None:
            return [f"{node}'s record names event {parts[node].get('at')!r}, not in its log"]
        cut[node] = position
    recorded = {(q, p, entry.get("msg_id")) for q in nodes
                for p, entries in (parts[q].get("channels") or {}).items() for entry in entries}
    # Markers draw the cut, so they are left out. Every other message: received inside the
    # cut means sent inside it (consistency); sent inside and received outside means in
    # transit, which the receiver's channel state must hold, and nothing else.
    for q, r_pos, p, s_pos, msg_id, what in facts.messages():
        inside, sent_inside = r_pos <= cut[q], s_pos <= cut[p]
        if inside and not sent_inside:
            problems.append(f"not a consistent cut: {q} received msg_id {msg_id} inside it "
                            f"(its event {r_pos}), sent by {p} outside it ({p}'s event "
                            f"{s_pos}, cut at {cut[p]})")
        in_transit = sent_inside and not inside
        held = (q, p, msg_id) in recorded
        if in_transit and not held:
            problems.append(f"{q}'s channel state from {p} misses msg_id {msg_id} ({what}), "
                            "in transit across the cut")
        elif held and not in_transit:
            problems.append(f"{q}'s channel state from {p} holds msg_id {msg_id}, which was "
                            "not in transit")
    balances = sum(int((parts[n].get("state") or {}).get("balance", 0)) for n in nodes)
    transit = sum(int(entry.get("amount", 0)) for n in nodes
                  for entries in (parts[n].get("channels") or {}).values()
                  for entry in entries if entry.get("what") == "transfer")
    if balances + transit != initial:
        problems.append(f"not conserved: balances {balances} + in transit {transit} = "
                        f"{balances + transit}, not {initial}")
    return problems


class FifoChannels(CausalCheck):
    name = "fifo_channels"
    doc = ("Each node takes the messages of each channel in the order they were sent (what "
           "Chandy-Lamport snapshots rely on).")

    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        last: dict[tuple[str, str], int] = {}
        overtaken: list[str] = []
        count = 0
        for (q, r_pos), (p, s_pos) in sorted(model.edges.items()):
            if last.get((p, q), 0) > s_pos:
                count += 1
                if len(overtaken) < SHOWN:
                    overtaken.append(f"{q} took {p}'s event-{s_pos} message (its event "
                                     f"{r_pos}) after a later one of {p}'s")
            last[(p, q)] = max(last.get((p, q), 0), s_pos)
        if count:
            return self.verdict(False, f"{count} message(s) overtaken on their channel: "
                                + "; ".join(overtaken), figures={"overtaken": count})
        if not model.edges:
            return self.verdict(False, "no message between nodes was logged, so no channel "
                                "order to judge")
        return self.verdict(True, f"{len(model.edges)} messages, each channel in order",
                            figures={"messages": len(model.edges)})


def shiviz_problems(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """What makes ShiViz reject these clocks (its parser's rules), as sentences.

    A clock must not lose what the previous event of its node knew; an entry it raises
    names an event it must then know all about (transitivity). Entries it keeps were
    checked at the event that raised them, so the work is linear in the events.
    """
    problems: list[str] = []
    clocks = {n: [dict(e.get("vc") or {}) for e in events] for n, events in logs.items()}
    for node, mine in clocks.items():
        before: dict[str, Any] = {}
        for position, clock in enumerate(mine, start=1):
            problem = _shiviz_problem(node, position, clock, before, clocks)
            if problem:
                problems.append(f"{node} event {position}: {problem}")
                if len(problems) >= SHOWN:
                    return problems
                break  # one per node: the rest of its log follows from this one
            before = clock
    return problems


def _shiviz_problem(node: str, position: int, clock: Mapping[str, Any],
                    before: Mapping[str, Any], clocks: Mapping[str, list[dict[str, Any]]]
                    ) -> str | None:
    if clock.get(node) != position:
        return (f"own entry {clock.get(node)!r}, ShiViz needs {position} (1, 2, ... one per "
                "logged event)")
    lost = [k for k, v in before.items() if k != node and v > clock.get(k, 0)]
    if lost:
        return f"forgets what its previous event knew of {', '.join(lost)}"
    for other, count in clock.items():
        if other == node or not count or before.get(other) == count:
            continue
        theirs = clocks.get(other)
        if theirs is None or not isinstance(count, int) or count > len(theirs):
            return f"names {other} event {count}, which {other} never logged"
        if any(v > clock.get(k, 0) for k, v in theirs[count - 1].items()):
            return (f"knows {other} event {count} but not all that it knew (an impossible, "
                    "intransitive clock)")
    return None


class ShivizLog(CausalCheck):
    name = "shiviz_log"
    doc = ("The clocks in the nodes' event logs obey the rules ShiViz enforces (own entry "
           "1, 2, ... per logged event; only logged events of logged hosts; transitive), "
           "so the logs open in ShiViz as they are.")

    def judge(self, options: Any, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        if facts.clock_problems:
            return self.verdict(False, "ShiViz would reject the nodes' clocks: " +
                                "; ".join(facts.clock_problems))
        return self.verdict(True, f"{sum(len(v) for v in facts.logs.values())} events whose "
                            "clocks ShiViz accepts (see shiviz.log in the report)")
