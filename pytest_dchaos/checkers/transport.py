"""The harness checks its own transport: did it lose messages no fault explains?

Every message between nodes passes through the agents and a Toxiproxy proxy, and the trace
records its sending and its arrival (or an agent's drop, with the reason). A message that
was sent and never arrived nor was dropped vanished inside the harness. A fault explains
that: its link was cut or lossy, one end was down, paused or restarting, the link was
slowed, a Byzantine or unknown fault acted on its nodes, or the run ended while it was in
flight. Anything else is the harness failing the nodes — a proxy that never reached its
upstream, say — and then verdicts about what those messages carried judge the harness, not
the node. The run says so in a note, so that such a failure is never taken for the node's.

Read from the fault timeline's effects, never from fault kinds (see
:mod:`pytest_dchaos.checkers.conditions`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.record.result import FaultEvent, RunRecord
from pytest_dchaos.record.stats import Sent

#: How the note of :func:`note` begins.
LOST = "the harness lost "
#: Seconds a message may take, on a link no fault slows, before its loss is unexplained.
IN_FLIGHT = 3.0
#: A fault that ended this long before a message was sent may still have taken it (a proxy
#: disabled and enabled again closes connections its clients learn of a moment later).
AFTERMATH = 0.5
#: The run's phases that are moments (``startup_s`` is a duration): the last one is its end.
PHASES = ("workload_end", "healed", "final_start", "final_end")
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
    lost = []
    for message in vanished:
        sent = message.t - record.history.t0
        if sent > end - IN_FLIGHT:
            continue  # in flight when the run ended
        settled = sent + IN_FLIGHT
        window = AFTERMATH + IN_FLIGHT
        if not conditions.healthy(message.src, message.dest, settled, window):
            continue
        if conditions.slowest_to(message.dest, settled, window) > 0:
            continue
        if any(start <= settled and sent - AFTERMATH <= stop
               and (not nodes or message.src in nodes or message.dest in nodes)
               for start, stop, nodes in opaque):
            continue
        lost.append(message)
    return lost


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
    return (f"{LOST}{len(lost)} message(s) between nodes that were up, on links "
            f"no fault touched ({links}; the first sent at {first:.1f}s): the trace shows "
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
