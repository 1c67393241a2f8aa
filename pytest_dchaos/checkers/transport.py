"""The harness checks its own transport: did it lose messages no fault explains?

Every message between nodes passes through the agents and a Toxiproxy proxy, and the trace
records its sending and its arrival (or an agent's drop, with the reason). A message that
was sent and never arrived nor was dropped vanished inside the harness. That is explained
when its link was cut or lossy, one end was down, paused or restarting, a Byzantine or
unknown fault acted on its nodes, an end's agent lost its last trace lines, or the run
ended while it was in flight (later, on a link the scenario or a fault slows). Anything
else is the harness failing the nodes — a proxy that never reached its upstream, say —
and then verdicts about what those messages carried judge the harness, not the node. The
run says so in a note, so that such a failure is never taken for the node's.

Read from the fault timeline's effects, never from fault kinds (see
:mod:`pytest_dchaos.checkers.conditions`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.record.result import FaultEvent, RunRecord
from pytest_dchaos.record.stats import Sent

#: How the note of :func:`note` begins.
LOST = "the harness lost "
#: Seconds a message may take, on a link no fault slows, before its loss is unexplained.
IN_FLIGHT = 2.0
#: A fault that ended this long before a message was sent may still have taken it (a proxy
#: disabled and enabled again closes connections its clients learn of a moment later).
AFTERMATH = 0.5
#: The run's phases that are moments (``startup_s`` is a duration): the last one is its end.
PHASES = ("workload_end", "healed", "final_start", "final_end")
#: Incidents after which a node's trace lacks what its agent had not yet written.
UNTRACED = ("trace_cut", "agent_lost")
#: Effects that may do anything to their nodes' messages.
OPAQUE = ("byzantine", "other")
#: A restart is recorded once its node is back, however long that took (seconds for a new
#: Swarm task): messages of the node from this long before it may have met it down.
RESTART_SLACK = 10.0


def unexplained(record: RunRecord, vanished: Iterable[Sent]) -> list[Sent]:
    """The messages of ``vanished`` (sent, neither arrived nor dropped) no fault explains."""
    vanished = list(vanished)
    end = max((record.phases[p] for p in PHASES if p in record.phases), default=None)
    if not vanished or end is None:
        return []
    conditions = Conditions(record.faults, record.nodes)
    opaque = _opaque_intervals(record.faults)
    # A node whose agent's last trace lines were lost (killed while frozen, gone): what it
    # received before that may be missing from the trace, not from the network.
    untraced: dict[str, float] = {}
    for incident in record.incidents:
        if incident.kind in UNTRACED:
            untraced[incident.node] = max(untraced.get(incident.node, incident.time),
                                          incident.time)
    lost = []
    for message in vanished:
        sent = message.t - record.history.t0
        src, dest = message.src, message.dest
        # When it should have arrived: the scenario's own latency on its link, and any a
        # fault added while it travelled, on top of the harness's own time.
        delay = _baseline(record, (src, dest)) + conditions.delay_on(
            (src, dest), sent, sent + IN_FLIGHT)
        due = sent + IN_FLIGHT + delay
        if due > end:
            continue  # in flight when the run ended
        if not conditions.healthy(src, dest, due, due - sent + AFTERMATH):
            continue
        if any(start <= due and sent - AFTERMATH <= stop
               and (not nodes or src in nodes or dest in nodes)
               for start, stop, nodes in opaque):
            continue
        if any(untraced.get(node, -math.inf) >= sent - AFTERMATH for node in (src, dest)):
            continue
        lost.append(message)
    return lost


def _baseline(record: RunRecord, link: tuple[str, str]) -> float:
    """The longest the scenario's steady network holds a message back on ``link``."""
    network = record.scenario.network
    extra = max((spec.latency + spec.jitter for spec in network.links if link in spec.links),
                default=0.0)
    return network.latency + network.jitter + extra


def note(record: RunRecord, vanished: Iterable[Sent]) -> str | None:
    """A note for the run if the harness's transport lost messages, else None."""
    lost = unexplained(record, vanished)
    if not lost:
        return None
    by_link = Counter(f"{m.src}->{m.dest}" for m in lost)
    links = ", ".join(f"{link} {count}" for link, count in by_link.most_common(4))
    if len(by_link) > 4:
        links += f" and {len(by_link) - 4} more link(s)"
    first = min(m.t for m in lost) - record.history.t0
    return (f"{LOST}{len(lost)} message(s) between nodes that were up, that no fault "
            f"explains ({links}; the first sent at {first:.1f}s): the trace shows "
            "them sent and never arriving. Verdicts that depend on them may be the "
            "harness's failure, not the node's; this is a bug in dchaos, please report it "
            "with this report folder")


def harness_failures(notes: Iterable[str]) -> list[str]:
    """The notes of a run that say the harness failed the nodes."""
    return [n for n in notes if n.startswith(LOST)]


def _opaque_intervals(faults: Iterable[FaultEvent]
                      ) -> list[tuple[float, float, frozenset[str]]]:
    """When a fault whose effect on messages is unknown acted, and on which nodes (none:
    on any); and the time each restart may have taken, before it was recorded."""
    starts: dict[str, FaultEvent] = {}
    intervals = []
    for event in faults:
        if event.effect == "restart" and event.action == "start":
            intervals.append((event.time - RESTART_SLACK, event.time, frozenset(event.nodes)))
        if event.effect not in OPAQUE:
            continue
        if event.action == "start":
            starts[event.key] = event
        elif event.action == "end" and event.key in starts:
            begun = starts.pop(event.key)
            intervals.append((begun.time, event.time, frozenset(begun.nodes)))
    intervals.extend((e.time, float("inf"), frozenset(e.nodes)) for e in starts.values())
    return intervals
