"""The ``shiviz_log`` check: the nodes' event logs open in ShiViz as they are, and what they
show travelling is what travelled.

ShiViz draws what a log says; a log that parses can still invent or leave out messages. So
the logs' sends and receives are held to the message trace: every receive a log records must
be a message the trace handed that node; every message of the kinds the logs account for
that a node wrote before it answered the harness's state query at the end must be a send in
its log; a send its log records must have been written, unless nothing the log records
after it on that channel was written either (the node died, or its window was full, before
it left: the reference node logs a send before it writes it).
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.families.vector_clock.wire import Named, Wire, named, wire
from pytest_dchaos.record.result import RunRecord, Verdict


class ShivizLog(CausalCheck[NoOptions]):
    name = "shiviz_log"
    doc = ("The clocks in the nodes' event logs obey the rules ShiViz enforces (own entry "
           "1, 2, ... per logged event; only logged events of logged hosts; transitive), "
           "so the logs open in ShiViz as they are; and the messages they show are the ones "
           "the trace carried: no receive of a message the node was never handed, no send "
           "it never wrote (while it wrote later ones to that peer), no message it wrote "
           "left out of its log.")
    evidence = "both"
    requires = frozenset({"dchaos_state"})
    blind_to = ("Events with no message — deliveries, snapshot recordings, starts — which "
                "only the log shows; what a message carried (the trace does not read "
                "bodies); messages of a kind no log names at all (taken for control "
                "traffic); a node that left no log.")

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        seen, names = wire(record), named(facts.logs)
        faults = _against_trace(facts, seen, names)
        events = sum(len(v) for v in facts.logs.values())
        figures = {"events": events, "sends": len(names.sends),
                   "receives": len(names.receives), "trace_mismatches": len(faults)}
        if facts.clock_problems or faults:
            parts = []
            if facts.clock_problems:
                parts.append("ShiViz would reject the nodes' clocks: " +
                             "; ".join(facts.clock_problems))
            if faults:
                parts.append(f"{len(faults)} message(s) the logs show otherwise than the "
                             "trace: " + "; ".join(faults[:SHOWN]) + seen.torn_note())
            return self.verdict(False, "; ".join(parts), witness={"trace": faults[:50]},
                                figures=figures)
        return self.verdict(True, f"{events} events whose clocks ShiViz accepts (see "
                            f"shiviz.log in the report); their {len(names.sends)} message "
                            f"sends and {len(names.receives)} receives are what the trace "
                            "carried, none left out" + seen.torn_note(), figures=figures)


def _against_trace(facts: Analysis, seen: Wire, names: Named) -> list[str]:
    kinds = names.channel_types(seen)
    faults: list[str] = []
    for node, events in facts.logs.items():
        if facts.sources.get(node) == "missing":
            continue
        # Per peer, the logged sends in log order, and whether each was written.
        logged: dict[str, list[tuple[Any, int, bool]]] = {}
        for position, event in enumerate(events, start=1):
            kind = event.get("kind")
            if kind == "send":
                for dest, msg_id in (event.get("to") or {}).items():
                    key = (node, msg_id, str(dest))
                    written = isinstance(msg_id, (int, str)) and key in seen.written
                    logged.setdefault(str(dest), []).append((msg_id, position, written))
            elif kind == "receive":
                key = (str(event.get("from")), event.get("msg_id"), node)
                if (not isinstance(key[1], (int, str)) or not seen.arrived(key)) \
                        and seen.complete(key[0], node):
                    faults.append(f"{node}'s event {position} receives msg_id {key[1]!r} "
                                  f"from {key[0]}, which the trace never handed to {node}")
        for dest, sends in sorted(logged.items()):
            if not seen.complete(node):
                break  # what it wrote last may be what its agent lost
            last_written = max((i for i, (_, _, w) in enumerate(sends) if w), default=-1)
            for msg_id, position, written in sends[:last_written]:
                if not written:
                    faults.append(f"{node}'s event {position} sends msg_id {msg_id!r} to "
                                  f"{dest}, which {node} never wrote, though it wrote what "
                                  "its log sends to that peer after it")
                    break
        # A live node's log ends where it answered the state query; a dead node's file
        # holds every event whose messages it wrote.
        end = seen.state_reply.get(node) if facts.sources.get(node) == "state" else None
        for key, at in seen.written.items():
            if key[0] != node or key in names.sends or seen.types.get(key) not in kinds:
                continue
            if end is None or at < end:
                faults.append(f"{node} wrote msg_id {key[1]!r} ({seen.types[key]}) to "
                              f"{key[2]} ({seen.when(key)}), but its log has no such send")
    return faults
