"""What the transaction family's checks share: the run's transactions and their fate.

They share one :class:`Facts` per record. From the client history (observed): every client
transaction (its invocation and outcome), and which transaction wrote each value (writes are
unique per key, so a value names its writer). From the nodes' ``dchaos_state`` (reported):
each node's decisions, and each key's committed versions in order
(``dchaos_state_ok.versions``) as whichever node lists the key reports them. No check
assumes which node holds a key: a node that lists a key speaks for it, and every such
statement is attributed to the node that made it. Where the nodes tie their transactions to
the client requests that started them (``dchaos_state_ok.txns``, optional: see
:mod:`.ties`), each decision they report can be set against what that client was told.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.txn.checks.ties import Ties, build_ties
from pytest_dchaos.record.history import FAIL, OK, Op, Outcome, outcome_of
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

SHOWN = 5


@dataclass
class Call:
    index: int
    invoke: Op
    outcome: Outcome
    ops: list[list[Any]]  # what was asked; with read values when ok
    writes: dict[int, list[Any]] = field(default_factory=dict)  # key -> values in order
    done: Op | None = None  # its completion; None if it never completed
    #: The msg_id of the request that carried it, where the run noted it.
    msg_id: int | None = None

    def describe(self) -> str:
        return (f"txn {self.index} on {self.invoke.node} at {self.invoke.time:.2f}s "
                f"({self.outcome}) {self.ops}")

    def named(self) -> str:
        """The call as the client made it: which request, to whom, when."""
        request = f"{self.invoke.process}'s request" + (
            f" msg_id {self.msg_id}" if self.msg_id is not None else "")
        return (f"txn {self.index} ({request} to {self.invoke.node} at "
                f"{self.invoke.time:.2f}s)")

    def told(self) -> str:
        """What the client was told, in words."""
        if self.outcome == OK:
            return "was told it committed (txn_ok)"
        error = self.done.error if self.done is not None and self.done.error else ""
        if self.outcome == FAIL:
            return "was told it aborted" + (f" ({error})" if error else "")
        return "was never told its outcome" + (f" ({error})" if error else "")

    @property
    def end(self) -> float | None:
        """When the client learnt the outcome (history time); None if it never did."""
        return self.done.time if self.done is not None else None


@dataclass
class Facts:
    calls: list[Call]
    writer: dict[tuple[int, Any], Call]
    #: key -> node -> that key's committed versions in order, as the node reports them.
    versions: dict[int, dict[str, list[Any]]]
    #: The nodes that report versions at all (a node may offer ``dchaos_state`` without).
    reporters: tuple[str, ...]
    #: Keys written in the history that no report speaks for: no node lists them, and
    #: some node left no versions (down at the end, or not offering them), so the key may
    #: be that node's.
    unknown_keys: set[int]
    decisions: dict[str, dict[str, str]]  # txn id -> node -> decision
    #: The nodes' transactions tied to the calls that started them (reported, checked
    #: against the requests the harness sent).
    ties: Ties = field(default_factory=Ties)
    #: (key, value) -> the ok calls that read it (built on first use).
    readers: dict[tuple[int, Any], list[Call]] | None = None

    def holders(self, key: int, value: Any) -> list[str]:
        """The nodes that list ``value`` among ``key``'s committed versions."""
        return sorted(n for n, listed in self.versions.get(key, {}).items() if value in listed)

    def installed(self, call: Call) -> list[bool]:
        """For each key it wrote (that the reports speak for): is its last write listed by
        some node?"""
        return [bool(self.holders(k, values[-1])) for k, values in call.writes.items()
                if k not in self.unknown_keys]

    def committed(self, call: Call) -> bool | None:
        """True if every write is a reported committed version, False if none is, None if
        mixed (or unknown: no report speaks for its keys)."""
        seen = self.installed(call)
        if not seen:
            return None if call.writes else (call.outcome == OK)
        if all(seen):
            return True
        return False if not any(seen) else None

    def partial(self, call: Call) -> bool:
        seen = self.installed(call)
        return any(seen) and not all(seen)

    def where(self, call: Call) -> str:
        """Which node lists each of the call's last writes: the reported evidence, named."""
        parts = []
        for key, values in call.writes.items():
            if key in self.unknown_keys:
                continue
            nodes = self.holders(key, values[-1])
            parts.append(f"key {key} = {values[-1]} listed by "
                         + (", ".join(nodes) if nodes else "no node"))
        return "; ".join(parts)

    def reads_of(self, call: Call) -> list[tuple[Call, int, Any]]:
        """The completed reads of ``call``'s writes by other calls: (reader, key, value)."""
        return [(reader, k, v) for (k, v), readers in self._readers().items()
                if self.writer.get((k, v)) is call for reader in readers]

    def _readers(self) -> dict[tuple[int, Any], list[Call]]:
        if self.readers is None:
            self.readers = {}
            for c in self.calls:
                if c.outcome != OK:
                    continue
                for op in c.ops:
                    if op[0] == "r" and op[2] is not None and \
                            self.writer.get((op[1], op[2])) not in (None, c):
                        self.readers.setdefault((op[1], op[2]), []).append(c)
        return self.readers

    def reported_by(self) -> str:
        """The nodes whose versions the verdict rests on, for a verdict's words."""
        return ", ".join(self.reporters) if self.reporters else "no node"


def facts(record: RunRecord) -> Facts:
    return record.derive("txn", _facts)


def _facts(record: RunRecord) -> Facts:
    calls: list[Call] = []
    writer: dict[tuple[int, Any], Call] = {}
    for invoke, done in record.history.pairs():
        if invoke.f != "txn" or not isinstance(invoke.value, list):
            continue
        outcome = outcome_of(done)
        ops = done.value if done is not None and outcome == OK and isinstance(
            done.value, list) else invoke.value
        call = Call(len(calls) + 1, invoke, outcome, ops, done=done)
        for f, key, value in invoke.value:
            if f == "w":
                call.writes.setdefault(key, []).append(value)
                writer[(key, value)] = call
        calls.append(call)
    versions: dict[int, dict[str, list[Any]]] = defaultdict(dict)
    reporters = []
    for node, state in sorted(record.node_states.items()):
        listed = state.get("versions")
        if not isinstance(listed, Mapping):
            continue
        reporters.append(node)
        for key, values in listed.items():
            number = reported_key(key)
            if number is not None and isinstance(values, list):
                versions[number][node] = list(values)
    # With every node's versions in hand, a key nobody lists has none; otherwise it may
    # live on a node that did not say.
    complete = set(reporters) >= set(record.nodes)
    written = {k for c in calls for k in c.writes}
    unknown = set() if complete else {k for k in written if k not in versions}
    decisions: dict[str, dict[str, str]] = defaultdict(dict)
    for node, state in record.node_states.items():
        for txn, decision in (state.get("decisions") or {}).items():
            decisions[txn][node] = decision
    return Facts(calls, writer, dict(versions), tuple(reporters), unknown, dict(decisions),
                 build_ties(record, calls))


def reported_key(key: Any) -> int | None:
    """A key as a node reports it (JSON object keys are strings), as the history has it."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def listing(items: list[str], total: int | None = None) -> str:
    more = (total if total is not None else len(items)) - SHOWN
    return "; ".join(items[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def no_state(checker: CheckerType[Any], record: RunRecord) -> Verdict | None:
    if not record.node_states:
        return checker.verdict(False, "no node answered dchaos_state, so no decision or "
                               "version can be checked")
    return None


def _down_intervals(record: RunRecord) -> dict[str, list[tuple[float, float | None]]]:
    """Per node, when it was down (crash faults), as wall-clock times."""
    t0 = record.history.t0
    down: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    open_: dict[tuple[str, str], float] = {}
    for event in record.faults:
        if event.effect != "crash":
            continue
        for node in event.nodes:
            if event.action == "start":
                open_[(event.key, node)] = t0 + event.time
            elif event.action == "end" and (event.key, node) in open_:
                down[node].append((open_.pop((event.key, node)), t0 + event.time))
    for (_, node), start in open_.items():
        down[node].append((start, None))
    return down


def _overlaps(since: float | None, until: float | None, start: float,
              end: float | None) -> bool:
    """Was a participant waiting on its outcome while the coordinator was down?"""
    if since is None:
        return False
    return (end is None or since < end) and (until is None or until > start)


@dataclass(frozen=True)
class InDoubt:
    """A participant waiting on a transaction's outcome while its coordinator was down."""

    node: str
    txn: str
    coord: str
    since: float
    until: float | None  # when it decided; None if it never did
    down: float  # when the coordinator went down
    back: float | None  # when it came back; None if it never did


CASES = ("before_decision", "after_decision")
#: What the in-doubt verdicts rest on, in their words.
BASIS = ("the participants' blocked spans and the coordinators' recovery, as the nodes "
         "report them, against the crashes and the message trace the harness saw")
#: How far apart the harness's clock and a node's may be taken to be (same host).
MARGIN = 0.05


def _told_before_down(f: Facts, record: RunRecord, doubt: InDoubt) -> Call | None:
    """The call that started the in-doubt transaction, if its client was told the outcome
    before the coordinator went down (observed: the coordinator had decided by then)."""
    call = f.ties.call_of.get(doubt.txn)
    if call is None or call.end is None or call.outcome not in (OK, FAIL):
        return None
    return call if record.history.t0 + call.end < doubt.down else None


def _case(record: RunRecord, doubt: InDoubt) -> str:
    """Had the coordinator decided when it went down? A client told the outcome before the
    crash says so (observed); else the coordinator's log, in ``recovered`` (reported)."""
    if _told_before_down(facts(record), record, doubt) is not None:
        return "after_decision"
    recovered = (record.node_states.get(doubt.coord) or {}).get("recovered") or {}
    return "after_decision" if str(recovered.get(doubt.txn, "")).startswith("logged") \
        else "before_decision"


def _cases_missing(record: RunRecord, doubts: list[InDoubt], wanted: Iterable[str]
                   ) -> tuple[dict[str, int], list[str]]:
    counts = dict.fromkeys(CASES, 0)
    for doubt in doubts:
        counts[_case(record, doubt)] += 1
    return counts, [c for c in wanted if not counts[c]]


def against_clients(f: Facts, record: RunRecord, doubt: InDoubt) -> list[str]:
    """An in-doubt transaction tied to a client call, against what the clients saw:

    * told "committed" before the coordinator went down, the coordinator had logged its
      commit — if it says its log held no such decision (``recovered``), it lost one;
    * no client read one of its writes, to a key only this participant lists, wholly
      within the span the participant says it was undecided (holding its locks): such a
      read shows the write was visible, so the participant had decided, or exposed a
      write it had not."""
    call = f.ties.call_of.get(doubt.txn)
    if call is None:
        return []
    problems = []
    t0 = record.history.t0
    early = _told_before_down(f, record, doubt)
    recovered = (record.node_states.get(doubt.coord) or {}).get("recovered") or {}
    found = recovered.get(doubt.txn) if isinstance(recovered, Mapping) else None
    if early is not None and early.outcome == OK and early.end is not None \
            and found is not None and not str(found).startswith("logged commit"):
        problems.append(f"{doubt.coord} reports it found {doubt.txn} in its log as "
                        f"'{found}', but the client call that started it, {call.named()}, "
                        f"{call.told()} at {early.end:.2f}s, before {doubt.coord} went "
                        f"down at {doubt.down - t0:.2f}s: a commit it acknowledged was not "
                        "in its log")
    until = doubt.until if doubt.until is not None else float("inf")
    for reader, key, value in f.reads_of(call):
        if reader.end is None or f.holders(key, value) != [doubt.node]:
            continue
        if doubt.since + MARGIN <= t0 + reader.invoke.time and \
                t0 + reader.end <= until - MARGIN:
            problems.append(
                f"{doubt.node} reports {doubt.txn} (started by {call.named()}) undecided "
                f"from {doubt.since - t0:.2f}s to "
                + (f"{doubt.until - t0:.2f}s" if doubt.until is not None else "the end")
                + f", but {reader.named()} read its write key {key} = {value}, which only "
                f"{doubt.node} lists, between {reader.invoke.time:.2f}s and "
                f"{reader.end:.2f}s")
            break
    return problems


def cases_option() -> s.Field:
    return s.Field("cases", s.ListOf(s.Str(CASES)), "crashes this scenario must show: the "
                   "coordinator down before it decided, after (decided, not delivered)", ())


#: How soon after a message arrives a participant may act on it, deciding: it forces its
#: log first, and on a loaded machine that takes a while. A decision this soon after a
#: message its coordinator sent before going down may have been taken on that message.
ACTING = 0.25

#: (sender, receiver) -> (when sent, when it arrived) of every message that arrived.
Deliveries = dict[tuple[str, str], list[tuple[float, float]]]


def _deliveries(record: RunRecord) -> Deliveries:
    """The message trace (observed: the agents carried these), for the nodes that crashed:
    only their last words matter here."""
    crashed = {n for e in record.faults if e.effect == "crash" for n in e.nodes}
    sent: dict[str, float] = {}
    arrived: Deliveries = defaultdict(list)
    for event in record.trace():
        if event.get("src") not in crashed:
            continue
        if event.get("ev") == "send":
            sent[str(event.get("id"))] = float(event["t"])
        elif event.get("ev") == "recv" and str(event.get("id")) in sent:
            arrived[(event["src"], event["dest"])].append((sent[str(event["id"])],
                                                           float(event["t"])))
    return dict(arrived)


def told_before_down(deliveries: Deliveries, coord: str, node: str, back: float | None,
                     decided: float) -> bool:
    """Did ``node`` decide right after a message ``coord`` sent it before going down had
    arrived? Then the coordinator may well have told it the outcome (a decision on its way
    when the coordinator died): the participant was not left in doubt.

    Every message the coordinator sent before it came back (``back``) was sent before it
    went down: a dead node sends nothing, and what its agent reads after the kill is what
    it wrote before. The trace carries no transaction, so any message counts; what bounds
    the excuse is time: such messages arrive within a link's delay of the crash, and a
    participant that does not block decides on its own clock, later."""
    if back is not None and decided >= back:
        return False  # decided once the coordinator was back: judged as such
    return any((back is None or sent < back) and decided - ACTING <= arrived <= decided
               for sent, arrived in deliveries.get((coord, node), []))


def in_doubt(record: RunRecord) -> Iterable[InDoubt]:
    """Every (participant, transaction) that waited on its outcome (the nodes' ``blocked``
    spans, reported) while the transaction's coordinator was down (the crash faults,
    observed), unless the coordinator's word was on its way when it went down (the
    message trace, observed: see :func:`told_before_down`)."""
    down = _down_intervals(record)
    deliveries = record.derive("txn_deliveries", _deliveries) if down else {}
    for node, state in record.node_states.items():
        for txn, span in (state.get("blocked") or {}).items():
            # The span names its coordinator; a node that leaves it out is taken to name
            # its transactions as the reference node does, "<coordinator>.<...>".
            named = span.get("coordinator")
            coord = named if isinstance(named, str) else txn.split(".", 1)[0]
            since, until = span.get("since"), span.get("until")
            for start, end in down.get(coord, []):
                if since is None or not _overlaps(since, until, start, end):
                    continue
                if until is not None and told_before_down(deliveries, coord, node, end,
                                                          until):
                    continue
                yield InDoubt(node, txn, coord, since, until, start, end)


@dataclass(frozen=True)
class InDoubtOptions:
    """The options of blocking and termination (their defaults and words differ)."""

    within: float
    require: bool
    #: Of CASES: the crashes the scenario must show.
    cases: tuple[str, ...]


class InDoubtCheck(CheckerType[InDoubtOptions]):
    """What blocking and termination share: every participant left in doubt by a crashed
    coordinator is judged on its own (:meth:`judge_one`); the scenario may require that
    it showed crashes before and after the decision (``cases``), and that it showed any."""

    #: Words for the verdicts: what the participants were, and what was not shown.
    seen_as: str
    unshown: str
    options_type = InDoubtOptions

    def check(self, options: InDoubtOptions, record: RunRecord) -> Verdict:
        problems, delays = [], []
        doubts = list(in_doubt(record))
        f = facts(record)
        for doubt in doubts:
            problem, delay = self.judge_one(doubt, options, record)
            if problem:
                problems.append(problem)
            if delay is not None:
                delays.append(delay)
            problems += against_clients(f, record, doubt)
        counts, missing = _cases_missing(record, doubts, options.cases)
        problems += [f"none {self.seen_as} by a coordinator that crashed "
                     f"{c.replace('_', ' ')}" for c in missing]
        tied = sum(1 for d in doubts if d.txn in f.ties.call_of)
        figures = {"in_doubt": len(doubts),
                   "max_s": round(max(delays), 3) if delays else None, **counts,
                   "tied": tied}
        basis = f" ({BASIS}; {_tie_words(f, tied, len(doubts))})"
        if problems:
            return self.verdict(False, listing(problems) + basis, figures=figures)
        if not doubts and options.require:
            return self.verdict(False, f"none {self.seen_as} by a crashed coordinator, so "
                                f"{self.unshown}{basis}", figures=figures)
        return self.verdict(True, self.summary(len(doubts), counts, delays) + basis,
                            figures=figures)

    @abstractmethod
    def judge_one(self, d: InDoubt, options: InDoubtOptions, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        """(what is wrong or None, the delay that counts for this one or None)."""

    @abstractmethod
    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        """The passing verdict's words."""


def _tie_words(f: Facts, tied: int, doubts: int) -> str:
    if not doubts:
        return "nothing in doubt to set against the clients"
    if not f.ties.available:
        return f"{f.ties.unavailable}, so nothing in doubt was set against the clients"
    return (f"{tied} of {doubts} in doubt tied to a client call, and set against what its "
            "client was told and what clients read")


def in_time(delays: list[float]) -> str:
    return f" within {max(delays):.2f}s" if delays else ""
