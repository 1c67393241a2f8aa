"""What the vector-clock family's checks share: one analysis of the run's happens-before.

All of them read one shared :class:`Analysis` of the run (built once per record): every
node's event log — from its ``dchaos_state``, or for a node that was down at the end from
the ``events.jsonl`` it left in its folder — and the family's happens-before model
(``causality``) built from those logs and the message trace.

* ``causal_delivery``: no read lists a broadcast before one in its causal past (judged on
  the client history, ``client_order``), nor does any log deliver one so; logs agree with
  the reads; none is delivered twice, none that was never broadcast (it uses the analysis
  only where there are logs), and the senders and clocks reads give must agree with what
  clients were told;
* ``delivered_everywhere``: every acknowledged broadcast is delivered on every live node;
* ``vector_clocks``: the clocks nodes report order two events exactly when one happened
  before the other — every concurrent pair is concurrent, no false order, no missed one;
* ``snapshots``: each snapshot is a consistent cut, its channel states are exactly the
  messages in transit (by the logs, and by the trace: ahead of the channel's marker), and it
  conserves the resource;
* ``fifo_channels``: each node takes each channel's messages in the order the sender wrote
  them, without a gap, and only messages the trace handed it;
* ``shiviz_log``: the nodes' clocks obey the rules ShiViz enforces, so their logs open, and
  the messages the logs show are those the trace carried.

What the trace shows of each message (who wrote it, in what order, when it was handed over)
is indexed once in ``wire``.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_dchaos.checkers.base import CheckerType, OptionsT
from pytest_dchaos.families.vector_clock import causality
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.record.result import RunRecord, Verdict

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


class CausalCheck(CheckerType[OptionsT]):
    """A check over the shared analysis; it refuses to judge a run without event logs."""

    protocols = ("vector_clock",)

    def check(self, options: OptionsT, record: RunRecord) -> Verdict:
        facts = analysis(record)
        if facts.causality is None:
            return self.verdict(False, "no node reported an event log (dchaos_state_ok "
                                "`events`), so there is nothing to judge; see "
                                "docs/nodes/vector_clock.md for what a node must report")
        return self.judge(options, record, facts, facts.causality)

    @abstractmethod
    def judge(self, options: OptionsT, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        """Judge the run, given its analysis and happens-before model."""


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
