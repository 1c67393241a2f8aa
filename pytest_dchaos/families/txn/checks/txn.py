"""The transaction family's checks: atomicity, outcomes, isolation, blocking, termination
and deadlock handling.

They share one :class:`Facts` per record: every client transaction (its invocation and
outcome), which transaction wrote each value (writes are unique per key, so a value names
its writer), and each key's committed versions in order, as the node that owns the key
reports them (``dchaos_state_ok.versions``). A transaction *committed* when its writes are
among the versions; the history says what the client was told.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.record.history import FAIL, OK, Op
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

SHOWN = 5


@dataclass
class Call:
    index: int
    invoke: Op
    outcome: str  # ok | fail | info
    ops: list[list[Any]]  # what was asked; with read values when ok
    writes: dict[int, list[Any]] = field(default_factory=dict)  # key -> values in order

    def describe(self) -> str:
        return (f"txn {self.index} on {self.invoke.node} at {self.invoke.time:.2f}s "
                f"({self.outcome}) {self.ops}")


@dataclass
class Facts:
    calls: list[Call]
    writer: dict[tuple[int, Any], Call]
    versions: dict[int, list[Any]]
    unknown_keys: set[int]
    decisions: dict[str, dict[str, str]]  # txn id -> node -> decision

    def installed(self, call: Call) -> list[bool]:
        """For each key it wrote (whose owner left its state): is its last write there?"""
        return [values[-1] in self.versions.get(k, []) for k, values in call.writes.items()
                if k not in self.unknown_keys]

    def committed(self, call: Call) -> bool | None:
        """True if every write is a committed version, False if none is, None if mixed
        (or unknown: a key's owner left no state)."""
        seen = self.installed(call)
        if not seen:
            return None if call.writes else (call.outcome == OK)
        if all(seen):
            return True
        return False if not any(seen) else None

    def partial(self, call: Call) -> bool:
        seen = self.installed(call)
        return any(seen) and not all(seen)


def facts(record: RunRecord) -> Facts:
    return record.derive("txn", _facts)


def _facts(record: RunRecord) -> Facts:
    calls: list[Call] = []
    writer: dict[tuple[int, Any], Call] = {}
    for invoke, done in record.history.pairs():
        if invoke.f != "txn" or not isinstance(invoke.value, list):
            continue
        outcome = done.type if done is not None else "info"
        ops = done.value if done is not None and outcome == OK and isinstance(
            done.value, list) else invoke.value
        call = Call(len(calls) + 1, invoke, outcome, ops)
        for f, key, value in invoke.value:
            if f == "w":
                call.writes.setdefault(key, []).append(value)
                writer[(key, value)] = call
        calls.append(call)
    nodes = list(record.nodes)
    versions: dict[int, list[Any]] = {}
    unknown: set[int] = set()
    keys = {k for c in calls for _, k, _ in c.invoke.value}
    for key in keys:
        owner = nodes[key % len(nodes)]
        state = record.node_states.get(owner)
        if state is None:
            unknown.add(key)
            continue
        versions[key] = list((state.get("versions") or {}).get(str(key), []))
    decisions: dict[str, dict[str, str]] = defaultdict(dict)
    for node, state in record.node_states.items():
        for txn, decision in (state.get("decisions") or {}).items():
            decisions[txn][node] = decision
    return Facts(calls, writer, versions, unknown, dict(decisions))


def _listing(items: list[str], total: int | None = None) -> str:
    more = (total if total is not None else len(items)) - SHOWN
    return "; ".join(items[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def _no_state(checker: CheckerType, record: RunRecord) -> Verdict | None:
    if not record.node_states:
        return checker.verdict(False, "no node answered dchaos_state, so no decision or "
                               "version can be checked")
    return None


class Atomicity(CheckerType):
    name = "atomicity"
    doc = ("Every participant of a transaction decides the same; no transaction is partly "
           "committed; no value written by an aborted transaction is ever read; no write "
           "of an acknowledged transaction is lost (across crashes and restarts).")
    protocols = ("txn",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        if (refused := _no_state(self, record)) is not None:
            return refused
        f = facts(record)
        problems: list[str] = []
        split = {t: d for t, d in f.decisions.items()
                 if len({v for v in d.values() if v != "pending"}) > 1}
        problems += [f"{t} decided differently: " + ", ".join(
            f"{n} {v}" for n, v in sorted(d.items())) for t, d in sorted(split.items())]
        problems += [f"partly committed: {c.describe()}" for c in f.calls if f.partial(c)]
        for call in f.calls:
            if call.outcome != OK:
                continue
            for op in call.ops:
                if op[0] != "r" or op[2] is None:
                    continue
                source = f.writer.get((op[1], op[2]))
                if source is not None and source is not call and \
                        f.committed(source) is False:
                    problems.append(f"txn {call.index} read key {op[1]} = {op[2]}, written "
                                    f"by txn {source.index}, which aborted")
            if f.committed(call) is False:
                problems.append(f"acknowledged but lost: {call.describe()}")
        figures = {"transactions": len(f.calls), "split_decisions": len(split),
                   "unknown_keys": sorted(f.unknown_keys)}
        if problems:
            return self.verdict(False, _listing(problems), evidence={"problems": problems[:50]},
                                figures=figures)
        note = (f" (keys {sorted(f.unknown_keys)} not judged: their node left no state)"
                if f.unknown_keys else "")
        return self.verdict(True, f"{len(f.decisions)} transaction decisions agree on every "
                            f"node; nothing partly committed, no aborted write read, no "
                            f"acknowledged write lost{note}", figures=figures)


class Outcomes(CheckerType):
    name = "txn_outcomes"
    doc = ("What each client was told holds: an ok transaction committed (its writes are "
           "installed, its reads returned committed values or its own writes), a failed "
           "one (abort, code 14 or 30) committed nothing. Unknown outcomes are counted "
           "as they turned out.")
    protocols = ("txn",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        if (refused := _no_state(self, record)) is not None:
            return refused
        f = facts(record)
        problems: list[str] = []
        turned = {"commit": 0, "abort": 0, "unknown": 0}
        for call in f.calls:
            committed = f.committed(call)
            if call.outcome == FAIL and committed:
                problems.append(f"told aborted, but committed: {call.describe()}")
            elif call.outcome == OK and committed is False:
                problems.append(f"told ok, but not committed: {call.describe()}")
            elif call.outcome not in (OK, FAIL) and call.writes:
                turned["commit" if committed else "abort" if committed is False
                       else "unknown"] += 1
            if call.outcome == OK:
                problems += _bad_reads(f, call)
        counts = {o: sum(1 for c in f.calls if c.outcome == o) for o in ("ok", "fail", "info")}
        figures = {**counts, "info_turned": turned}
        if problems:
            return self.verdict(False, _listing(problems), evidence={"problems": problems[:50]},
                                figures=figures)
        if not counts["ok"]:
            return self.verdict(False, "no transaction committed, so no outcome shows the "
                                "store works", figures=figures)
        return self.verdict(True, f"{counts['ok']} ok, {counts['fail']} aborted, "
                            f"{counts['info']} unknown (of which {turned['commit']} committed, "
                            f"{turned['abort']} did not): every outcome holds",
                            figures=figures)


def _bad_reads(f: Facts, call: Call) -> list[str]:
    """Reads that are neither the transaction's own earlier write nor a committed value."""
    problems = []
    own: dict[int, Any] = {}
    for op in call.ops:
        kind, key, value = op
        if kind == "w":
            own[key] = value
            continue
        if key in f.unknown_keys:
            continue
        if key in own:
            if value != own[key]:
                problems.append(f"txn {call.index} read key {key} = {value} after writing "
                                f"{own[key]} to it itself")
        elif value is not None and value not in f.versions.get(key, []) and \
                f.writer.get((key, value)) is None:
            problems.append(f"txn {call.index} read key {key} = {value}, which nobody wrote")
    return problems


class Isolation(CheckerType):
    name = "isolation"
    doc = ("Isolation anomalies in the spirit of Elle, over the committed transactions and "
           "each key's version order: G0 (write cycle, dirty write), G1a (aborted read), "
           "G1b (intermediate read), G1c (cycle of writes and reads), lost update, and G2 "
           "(a cycle through anti-dependencies: not serializable). Strict two-phase locking "
           "allows none.")
    protocols = ("txn",)
    options = s.Struct((s.Field("allow", s.ListOf(s.Str(
        ("G0", "G1a", "G1b", "G1c", "lost-update", "G2"))),
        "anomalies this scenario tolerates (reported, not failed)", ()),))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        if (refused := _no_state(self, record)) is not None:
            return refused
        f = facts(record)
        found = anomalies(f)
        allowed = set(options.get("allow") or ())
        figures = {name: len(items) for name, items in found.items()}
        bad = {n: items for n, items in found.items() if items and n not in allowed}
        committed = sum(1 for c in f.calls if f.committed(c))
        if bad:
            parts = [f"{name}: {len(items)} ({items[0]})" for name, items in bad.items()]
            return self.verdict(False, "; ".join(parts),
                                evidence={n: items[:20] for n, items in bad.items()},
                                figures=figures)
        tolerated = [f"{n} {len(i)}" for n, i in found.items() if i]
        return self.verdict(True, f"{committed} committed transactions, no anomaly"
                            + (f" (tolerated: {', '.join(tolerated)})" if tolerated else ""),
                            figures=figures)


def anomalies(f: Facts) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {n: [] for n in ("G0", "G1a", "G1b", "G1c", "lost-update",
                                                   "G2")}
    committed = [c for c in f.calls if f.committed(c)]
    ids = {id(c) for c in committed}
    edges: dict[int, dict[int, str]] = defaultdict(dict)  # from -> to -> kind (ww/wr/rw)

    def edge(a: Call, b: Call, kind: str) -> None:
        if a is not b and id(a) in ids and id(b) in ids:
            current = edges[a.index].get(b.index)
            if current is None or _rank(kind) < _rank(current):
                edges[a.index][b.index] = kind

    for key, versions in f.versions.items():
        writers = [f.writer.get((key, v)) for v in versions]
        for a, b in pairwise(writers):
            if a is not None and b is not None:
                edge(a, b, "ww")
    readers_of: dict[tuple[int, int], dict[int, Call]] = defaultdict(dict)
    for call in f.calls:
        if call.outcome != OK:
            continue
        own: set[int] = set()
        for kind, key, value in call.ops:
            if kind == "w":
                own.add(key)
                continue
            if key in own or key in f.unknown_keys:
                continue
            source = f.writer.get((key, value)) if value is not None else None
            if source is not None and source is not call:
                committed_source = f.committed(source)
                if committed_source is False or source.outcome == FAIL:
                    found["G1a"].append(f"txn {call.index} read {key}={value} of aborted txn "
                                        f"{source.index}")
                elif source.writes.get(key, [value])[-1] != value:
                    found["G1b"].append(f"txn {call.index} read {key}={value}, an "
                                        f"intermediate write of txn {source.index}")
                else:
                    edge(source, call, "wr")
            versions = f.versions.get(key, [])
            position = versions.index(value) + 1 if value in versions else (
                0 if value is None else None)
            if position is None:
                continue
            readers_of[(key, position)][call.index] = call
            if position < len(versions):
                nxt = f.writer.get((key, versions[position]))
                if nxt is not None:
                    edge(call, nxt, "rw")
    for (key, position), readers in readers_of.items():
        writers_too = [c for c in readers.values() if key in c.writes and f.committed(c)]
        if len(writers_too) > 1:
            found["lost-update"].append(
                f"txns {', '.join(str(c.index) for c in writers_too)} all read version "
                f"{position} of key {key} and all wrote it")
    for component in _cycles(edges):
        kinds = {edges[a][b] for a in component for b in edges[a] if b in component}
        name = "G0" if kinds == {"ww"} else "G1c" if "rw" not in kinds else "G2"
        # The smallest kind set the cycle needs decides its name; with only ww edges in
        # the component it is a write cycle.
        found[name].append(f"cycle among txns {sorted(component)[:8]} "
                           f"({', '.join(sorted(kinds))} edges)")
    return found


def _rank(kind: str) -> int:
    return {"ww": 0, "wr": 1, "rw": 2}[kind]


def _cycles(edges: Mapping[int, Mapping[int, str]]) -> list[set[int]]:
    """Strongly connected components with more than one transaction (Tarjan, iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    result: list[set[int]] = []
    counter = 0
    for root in list(edges):
        if root in index:
            continue
        work = [(root, iter(edges.get(root, {})))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, {}))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                if len(component) > 1:
                    result.append(component)
    return result


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


def _case(record: RunRecord, doubt: InDoubt) -> str:
    """Had the coordinator decided when it went down? Its log says, in ``recovered``."""
    recovered = (record.node_states.get(doubt.coord) or {}).get("recovered") or {}
    return "after_decision" if str(recovered.get(doubt.txn, "")).startswith("logged") \
        else "before_decision"


def _cases_missing(record: RunRecord, doubts: list[InDoubt], wanted: Iterable[str]
                   ) -> tuple[dict[str, int], list[str]]:
    counts = dict.fromkeys(CASES, 0)
    for doubt in doubts:
        counts[_case(record, doubt)] += 1
    return counts, [c for c in wanted if not counts[c]]


def _cases_option() -> s.Field:
    return s.Field("cases", s.ListOf(s.Str(CASES)), "crashes this scenario must show: the "
                   "coordinator down before it decided, after (decided, not delivered)", ())


def in_doubt(record: RunRecord) -> Iterable[InDoubt]:
    """Every (participant, transaction) that waited on its outcome (the nodes' ``blocked``
    spans) while the transaction's coordinator was down (the crash faults)."""
    down = _down_intervals(record)
    for node, state in record.node_states.items():
        for txn, span in (state.get("blocked") or {}).items():
            coord = txn.split(".", 1)[0]
            since, until = span.get("since"), span.get("until")
            for start, end in down.get(coord, []):
                if since is not None and _overlaps(since, until, start, end):
                    yield InDoubt(node, txn, coord, since, until, start, end)


class InDoubtCheck(CheckerType):
    """What blocking and termination share: every participant left in doubt by a crashed
    coordinator is judged on its own (:meth:`judge_one`); the scenario may require that
    it showed crashes before and after the decision (``cases``), and that it showed any."""

    #: Words for the verdicts: what the participants were, and what was not shown.
    seen_as: str
    unshown: str

    def check(self, options: Any, record: RunRecord) -> Verdict:
        problems, delays = [], []
        doubts = list(in_doubt(record))
        for doubt in doubts:
            problem, delay = self.judge_one(doubt, options, record)
            if problem:
                problems.append(problem)
            if delay is not None:
                delays.append(delay)
        counts, missing = _cases_missing(record, doubts, options.get("cases") or ())
        problems += [f"none {self.seen_as} by a coordinator that crashed "
                     f"{c.replace('_', ' ')}" for c in missing]
        figures = {"in_doubt": len(doubts),
                   "max_s": round(max(delays), 3) if delays else None, **counts}
        if problems:
            return self.verdict(False, _listing(problems), figures=figures)
        if not doubts and options["require"]:
            return self.verdict(False, f"none {self.seen_as} by a crashed coordinator, so "
                                f"{self.unshown}", figures=figures)
        return self.verdict(True, self.summary(len(doubts), counts, delays), figures=figures)

    @abstractmethod
    def judge_one(self, d: InDoubt, options: Any, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        """(what is wrong or None, the delay that counts for this one or None)."""

    @abstractmethod
    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        """The passing verdict's words."""


def _in_time(delays: list[float]) -> str:
    return f" within {max(delays):.2f}s" if delays else ""


class Blocking(InDoubtCheck):
    name = "blocking"
    doc = ("Two-phase commit blocks, as it must: a participant that voted yes and lost its "
           "coordinator stays undecided (holding its locks) while the coordinator is down, "
           "and decides within `within` of the coordinator's restart.")
    protocols = ("txn",)
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the coordinator's restart by which every "
                "blocked participant decides", 1.0),
        s.Field("require", s.Bool(), "fail if no participant was seen blocked at all", True),
        _cases_option(),
    ))
    seen_as = "was blocked"
    unshown = "blocking was not shown (crash a coordinator mid-commit)"

    def judge_one(self, d: InDoubt, options: Any, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        if d.until is None:
            if d.back is None:
                return None, None  # the coordinator never came back: blocked to the end
            return (f"{d.node} still has {d.txn} undecided, though {d.coord} restarted at "
                    f"+{d.back - record.history.t0:.1f}s"), None
        if d.back is None:
            return (f"{d.node} decided {d.txn} though its coordinator {d.coord} never came "
                    "back: it did not block"), None
        if d.until < d.back - 0.05:
            return (f"{d.node} decided {d.txn} at +{d.until - d.down:.2f}s, while its "
                    f"coordinator {d.coord} was still down: it did not block"), None
        delay = d.until - d.back
        if delay > options["within"]:
            return (f"{d.node} decided {d.txn} {delay:.2f}s after {d.coord} restarted "
                    f"(> {options['within']:g}s)"), delay
        return None, delay

    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        return (f"{seen} participant(s) blocked while their coordinator was down "
                f"({counts['before_decision']} before it decided, "
                f"{counts['after_decision']} after) and decided after it came back"
                + _in_time(delays))


class Termination(InDoubtCheck):
    name = "termination"
    doc = ("Three-phase commit terminates without its coordinator: every transaction a "
           "crashed coordinator left undecided is decided by its participants within "
           "`within` of the crash (crash faults, no partition).")
    protocols = ("txn",)
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the coordinator's crash", 2.0),
        s.Field("require", s.Bool(), "fail if no transaction was left in doubt", True),
        _cases_option(),
    ))
    seen_as = "was left in doubt"
    unshown = "termination was not shown"

    def judge_one(self, d: InDoubt, options: Any, record: RunRecord
                  ) -> tuple[str | None, float | None]:
        if d.until is None:
            return f"{d.node} never decided {d.txn} after {d.coord} crashed", None
        delay = d.until - max(d.down, d.since)
        if delay > options["within"]:
            return (f"{d.node} decided {d.txn} {delay:.2f}s after {d.coord} crashed "
                    f"(> {options['within']:g}s)"), delay
        return None, delay

    def summary(self, seen: int, counts: Mapping[str, int], delays: list[float]) -> str:
        return (f"{seen} in-doubt decision(s) ({counts['before_decision']} before the "
                f"coordinator decided, {counts['after_decision']} after), each taken without "
                "the coordinator" + _in_time(delays))


class DeadlockHandling(CheckerType):
    name = "deadlock_handling"
    doc = ("Every deadlock the nodes found was a real cycle of waits, confirmed edge by edge, "
           "and was broken by aborting one of its transactions within `within` of forming; "
           "no transaction was aborted as a deadlock victim outside such a cycle.")
    protocols = ("txn",)
    options = s.Struct((
        s.Field("within", s.Duration(), "time from a cycle forming to its victim's abort",
                1.0),
        s.Field("require", s.Bool(), "fail if no deadlock happened at all", True),
    ))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        found = [d for st in record.node_states.values() for d in st.get("deadlocks") or []]
        victims = [v for st in record.node_states.values() for v in st.get("victims") or []]
        problems = []
        cycles = {d["victim"]: d for d in found}
        delays = []
        for d in found:
            if d["victim"] not in d.get("cycle", []):
                problems.append(f"victim {d['victim']} is not in its cycle {d.get('cycle')}")
            if d.get("formed") is not None:
                delays.append(d["t"] - d["formed"])
                if d["t"] - d["formed"] > options["within"]:
                    problems.append(f"the cycle {d.get('cycle')} stood "
                                    f"{d['t'] - d['formed']:.2f}s before it was broken")
        for victim in victims:
            if victim["txn"] not in cycles:
                problems.append(f"{victim['txn']} was aborted as a deadlock victim, but no "
                                "confirmed cycle names it")
        figures = {"deadlocks": len(found), "victims": len(victims),
                   "max_break_s": round(max(delays), 3) if delays else None}
        if problems:
            return self.verdict(False, _listing(problems), figures=figures)
        if not found and options["require"]:
            return self.verdict(False, "no deadlock happened, so deadlock handling was not "
                                "shown (more contention: fewer keys, more operations)",
                                figures=figures)
        return self.verdict(True, f"{len(found)} deadlock(s), each a confirmed cycle broken "
                            "by one victim" + (f" within {max(delays):.2f}s" if delays else ""),
                            figures=figures)
