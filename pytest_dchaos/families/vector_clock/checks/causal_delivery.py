"""The ``causal_delivery`` check: nothing delivered before its causal past — judged on what
clients read, and, where nodes report event logs, on those logs checked against the reads.

Observed (always): every successful read in the history — during the run and the final
reads — lists what its node delivered, in delivery order. No read may list a broadcast
before one in its causal past, or without it; none may list one twice, or one that was
never broadcast. The causal past comes from the client history alone (``client_order``):
program order of acknowledged broadcasts on a node, and what a read of a node showed it had
delivered before a later broadcast there, closed transitively. It needs no report. The
clocks clients are given are held to one another too (``_judge_clocks``): a read's sender
for a broadcast is the node its cbcast went to, one broadcast has one clock (its
cbcast_ok's, every read's), and reads list each origin's broadcasts in the order of that
origin's own clock entry — which orders broadcasts the history leaves unordered (two
clients broadcasting through one node at once).

What the history cannot show needs the nodes' event logs (``dchaos_state``, reported): the
causal past through a node that delivered a broadcast but was not read before it broadcast
again. The message trace cannot stand in for it — it does not say which broadcast a message
carried, and a broadcast received is not yet delivered. So where nodes report logs, the
check also (as before) judges each log's deliveries against the harness's happens-before
from logs and trace (``causality``), and cross-checks the logs against the reads: a read of
a node must list, position by position, the deliveries its log records (the same message
where the log names it, a broadcast from the same origin where it does not). A mismatch —
an honest log behind a read that hands out another order — fails, naming node, message and
positions. Reads made before a node's last restart are not compared with its log: a node
without stable storage starts a new log.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.vector_clock import client_order
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, analysis
from pytest_dchaos.families.vector_clock.client_order import ClientOrder, Read
from pytest_dchaos.families.vector_clock.workload import Clock
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict


class CausalDelivery(CheckerType[NoOptions]):
    name = "causal_delivery"
    doc = ("No read lists a broadcast before (or without) one in its causal past — the past "
           "taken from the client history: what a node had acknowledged or been read to "
           "have delivered before a broadcast there — nor one twice, nor one never "
           "broadcast. Reads' senders and clocks must agree with what clients were told: the "
           "sender is the node the cbcast went to, one broadcast has one clock (its "
           "cbcast_ok's, and every read's), and each origin's broadcasts are listed in the "
           "order of that origin's own clock entry, none missing. Where nodes report event "
           "logs, each log's deliveries are also judged against the happens-before the "
           "harness builds from logs and trace, and must match, position by position, what "
           "reads of that node listed.")
    protocols = ("vector_clock",)
    evidence = "observed"
    blind_to = ("Which broadcast a node-to-node message carried (the trace does not read "
                "bodies), so without event logs the causal past of a broadcast is only what "
                "clients saw: broadcasts whose cbcasts overlapped on different nodes, or that "
                "follow a delivery no read showed, are unordered; the clocks order only one "
                "origin's broadcasts (an event clock also counts messages received but held "
                "back, which are not in the causal past); what a node knew before a crash "
                "orders nothing after it.")

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        order = record.derive("client_order",
                              lambda r: client_order.build(r.history, r.faults))
        seen, bad_reads, read_problems = _judge_reads(order)
        carried, clock_problems = _judge_clocks(order)
        read_problems += clock_problems
        figures: dict[str, Any] = {"reads": len(order.reads), "broadcasts":
                                   len(order.broadcasts), "read_violations": bad_reads,
                                   "read_clocks": carried,
                                   "read_clock_faults": len(clock_problems)}
        facts = analysis(record)
        reported = facts.causality is not None
        log_problems: list[str] = []
        if facts.causality is not None:
            log_problems, deliveries = _judge_logs(facts, facts.causality)
            mismatches = _logs_against_reads(facts, order, record)
            figures.update(deliveries=deliveries, log_violations=len(log_problems),
                           log_read_mismatches=len(mismatches))
            log_problems += mismatches
        else:
            deliveries = 0
        evidence: EvidenceKind = "both" if reported else "observed"
        if read_problems or log_problems:
            parts = [f"{bad_reads} read(s) broke causal order"] if bad_reads else []
            if clock_problems:
                parts.append(f"{len(clock_problems)} sender(s) or clock(s) reads gave "
                             "contradict what clients were told or what they read")
            if reported:
                parts.append(f"{figures['log_violations']} logged deliveries broke causal "
                             f"order, {figures['log_read_mismatches']} node(s) logged "
                             "other deliveries than reads listed")
            # Both kinds in the detail when there are both: each points at another fault.
            shown = read_problems[:SHOWN - min(2, len(log_problems))]
            shown += log_problems[:SHOWN - len(shown)]
            return self.verdict(False, "; ".join(parts) + ": " + "; ".join(shown),
                                witness={"violations": (read_problems + log_problems)[:50]},
                                figures=figures, evidence=evidence)
        if not seen and not deliveries:
            return self.verdict(False, "no read listed any broadcast and no node logged a "
                                "delivery, so nothing was judged", figures=figures,
                                evidence=evidence)
        detail = (f"{len(order.reads)} reads of {len(order.broadcasts)} broadcasts listed "
                  "them in causal order")
        if carried:
            detail += (f"; the {carried} clocks they gave agree with cbcast_ok and with one "
                       "another, and order each origin's broadcasts as they were read")
        if reported:
            detail += (f"; {deliveries} logged deliveries in causal order, and every log "
                       "agrees with the reads of its node")
        return self.verdict(True, detail, figures=figures, evidence=evidence)


def _judge_reads(order: ClientOrder) -> tuple[int, int, list[str]]:
    """How many read entries there were, how many reads break the order, and a sentence
    for each fault, once per node (its later reads repeat what an earlier one listed)."""
    problems: list[str] = []
    judged: dict[tuple[Hashable, ...], list[client_order.Misorder]] = {}
    told: set[tuple[str, str, Hashable, Hashable]] = set()
    seen = bad = 0
    for read in order.reads:
        seen += len(read.messages)
        if read.messages not in judged:
            judged[read.messages] = order.judge(read.messages)
        found = judged[read.messages]
        if found:
            bad += 1
            first = found[0]
            if (read.node, first.kind, first.message, first.cause) not in told:
                told.add((read.node, first.kind, first.message, first.cause))
                problems.append(_describe(order, read, first))
    return seen, bad, problems


def _describe(order: ClientOrder, read: Read, problem: client_order.Misorder) -> str:
    where = f"{read.node}'s read by {read.process} (returned at {read.returned:.3f}s)"
    what = f"{problem.message!r} (position {problem.position})"
    if problem.kind == "duplicate":
        return f"{where} lists {what} twice, first at position {problem.cause_position}"
    if problem.kind == "unknown":
        return f"{where} lists {what}, which was never broadcast"
    cause = f"{problem.cause!r}"
    placed = (f"before {cause} (position {problem.cause_position})"
              if problem.cause_position is not None else f"without {cause}")
    return (f"{where} lists {what} {placed}, which is in its causal past: "
            f"{order.why(problem.message, problem.cause)}")


def _judge_logs(facts: Analysis, model: Causality) -> tuple[list[str], int]:
    """Each log's deliveries against the harness's happens-before (reported evidence)."""
    violations: list[str] = []
    deliveries = 0
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
                problem = f"{node} logged delivering {origin}#{seq}, which {origin} never " \
                          "broadcast"
            elif isinstance(seq, int) and delivered.get(origin, 0) >= seq:
                problem = f"{node} logged delivering {origin}#{seq} twice"
            elif isinstance(seq, int) and delivered.get(origin, 0) != seq - 1:
                problem = (f"{node} logged delivering {origin}#{seq} before {origin}#"
                           f"{delivered.get(origin, 0) + 1} (same origin, earlier)")
            else:
                for other, need in sorted(model.causal_past.get(key, {}).items()):
                    if delivered.get(other, 0) < need:
                        problem = (f"{node} logged delivering {origin}#{seq} (its event "
                                   f"{position}) before {other}#{delivered.get(other, 0) + 1}"
                                   ", which is in its causal past")
                        break
            if problem:
                violations.append(problem)
            if isinstance(seq, int):
                delivered[origin] = max(delivered.get(origin, 0), seq)
    return violations, deliveries


def _logs_against_reads(facts: Analysis, order: ClientOrder, record: RunRecord) -> list[str]:
    """One sentence per node whose log records other deliveries than its reads listed."""
    mismatches: list[str] = []
    for node, events in facts.logs.items():
        if facts.sources.get(node) == "missing":
            continue
        logged = [e for e in events if e.get("kind") == "deliver"]
        life = _last_restart(record, node)
        for read in order.reads:
            if read.node != node or read.invoked < life:
                continue
            problem = _compare(order, node, logged, read)
            if problem:
                mismatches.append(problem)
                break  # one per node: the rest of its reads follow from the same log
    return mismatches


def _compare(order: ClientOrder, node: str, logged: list[dict[str, Any]],
             read: Read) -> str | None:
    where = f"{node}'s read by {read.process} (returned at {read.returned:.3f}s)"
    if len(read.messages) > len(logged):
        return (f"{where} lists {len(read.messages)} broadcasts, but {node}'s log records "
                f"only {len(logged)} deliveries (position {len(logged) + 1} is "
                f"{read.messages[len(logged)]!r})")
    for position, (message, event) in enumerate(zip(read.messages, logged, strict=False),
                                                start=1):
        origin, seq = event.get("origin"), event.get("seq_b")
        if "message" in event:
            agrees = client_order.message_key(event["message"]) == message
            named = f"{origin}#{seq} (message {event['message']!r})"
        else:
            # The log names broadcasts by origin and number, reads by message: without the
            # message in the log, the origin is what the two can be matched on.
            agrees = order.origin.get(message, origin) == origin
            named = f"{origin}#{seq}"
        if not agrees:
            return (f"{where} lists {message!r} at position {position}, but {node}'s log "
                    f"records delivery {position} as {named}")
    return None


def _last_restart(record: RunRecord, node: str) -> float:
    """When ``node`` last came back from a crash or restart (its log may start there)."""
    times = [e.time for e in record.faults if node in e.nodes and (
        e.effect == "restart" or (e.effect == "crash" and e.action == "end"))]
    return max(times, default=float("-inf"))


def _judge_clocks(order: ClientOrder) -> tuple[int, list[str]]:
    """What the clocks clients were given say against what they were given with them: how
    many read entries carried a clock, and a sentence per fault (once per node and kind).

    * a read's sender for a broadcast must be the node its cbcast went to;
    * every clock given for one broadcast — by its cbcast_ok, by any read of any node —
      must be the same: it is the broadcast's timestamp;
    * a read must list one origin's broadcasts in the order of that origin's own clock
      entry, and none without an acknowledged one of the same origin (and the same life of
      it) with a lower entry: a node broadcasts its own messages in order, and causal
      delivery includes FIFO. Across origins the clocks prove nothing: an event clock
      orders a broadcast after one its origin received but still held back.
    """
    problems: list[str] = []
    told: set[tuple[str, str, Hashable]] = set()
    first_read: dict[Hashable, tuple[Clock, str]] = {}
    # Per origin and life, the acknowledged broadcasts by their origin's own entry.
    acked: dict[tuple[str, int], list[tuple[int, Hashable]]] = {}
    for broadcast, given in order.acked_clock.items():
        source = order.origin.get(broadcast)
        if source is not None and isinstance(given.get(source), int):
            acked.setdefault((source, order.life.get(broadcast, 0)), []).append(
                (given[source], broadcast))
    for entries in acked.values():
        entries.sort(key=lambda e: e[0])
    carried = 0

    def tell(read: Read, kind: str, message: Hashable, text: str) -> None:
        if (read.node, kind, message) not in told:
            told.add((read.node, kind, message))
            problems.append(f"{read.node}'s read by {read.process} (returned at "
                            f"{read.returned:.3f}s) {text}")

    for read in order.reads:
        if read.clocks is None:
            continue
        highest: dict[tuple[str, int], tuple[int, Hashable, int]] = {}
        listed: set[Hashable] = set(read.messages)
        for position, (message, (sender, clock)) in enumerate(
                zip(read.messages, read.clocks, strict=True), start=1):
            origin = order.origin.get(message)
            if origin is None:
                continue  # never broadcast: told by the read's own judgement
            if sender != origin:
                tell(read, "sender", message, f"gives {message!r} (position {position}) the "
                     f"sender {sender!r}, but its cbcast went to {origin}")
            if clock is None:
                continue
            carried += 1
            acked_clock = order.acked_clock.get(message)
            if acked_clock is not None and clock != acked_clock:
                tell(read, "clock", message, f"gives {message!r} the clock {clock}, but its "
                     f"cbcast_ok gave {acked_clock}")
            elif acked_clock is None:
                earlier = first_read.setdefault(message, (clock, f"{read.node}'s read by "
                                                          f"{read.process}"))
                if earlier[0] != clock:
                    tell(read, "clock", message, f"gives {message!r} the clock {clock}, but "
                         f"{earlier[1]} gave it {earlier[0]}")
            mine = (acked_clock or clock).get(origin)
            if not isinstance(mine, int):
                continue
            life = (origin, order.life.get(message, 0))
            top = highest.get(life)
            if top is not None and mine < top[0]:
                tell(read, "fifo", message, f"lists {message!r} (position {position}, "
                     f"{origin}'s entry {mine}) after {top[1]!r} (position {top[2]}, entry "
                     f"{top[0]}): {origin}'s own clock says it broadcast {message!r} first")
            if top is None or mine > top[0]:
                highest[life] = (mine, message, position)
        for life, (mine, message, _) in highest.items():
            for entry, before in acked.get(life, []):
                if entry >= mine:
                    break
                if before not in listed:
                    tell(read, "fifo", message, f"lists {message!r} without {before!r}, "
                         f"which {life[0]} acknowledged with its own entry {entry} before "
                         f"{mine}: broadcast there first")
                    break
    return carried, problems
