"""The dependency graph of a transaction history, inferred from what clients saw, as Elle
infers it for read/write registers (Kingsbury & Alvaro, "Elle: Inferring Isolation
Anomalies from Experimental Observations"), and the anomalies it shows.

The history is Maelstrom's txn-rw-register: ``["r", k, v]`` and ``["w", k, v]`` micro-ops,
and every write gives its key a value never written to it before, so a value read names the
one transaction that wrote it. ``ok`` transactions committed, ``fail`` ones (abort, conflict)
did not, ``info`` ones may have: they are in the graph with their writes (their reads are
unknown), and a write of theirs that someone read committed.

What the history alone shows, with certainty:

* **internal** (Elle's internal inconsistency, as far as every model agrees): a committed
  transaction's read of a key it had written earlier did not return its own write, which
  no isolation level allows. (Two reads of a key that differ, with no write between, are
  a non-repeatable read: read committed allows it, and it is judged as the G-single it
  is.)
* **garbage**: a committed transaction read a value no transaction wrote to that key (a
  store that answers 0 for a key nobody wrote, where the workload says ``null``): no model
  allows it;
* **wr**: T1 wrote the value T2 read;
* **G1a** (aborted read): a committed transaction read a value a failed one wrote;
* **G1b** (intermediate read): it read a value its writer overwrote itself;
* **lost update**: two committed transactions read the same version of a key (the initial
  one included) and both wrote the key.

What it shows of each key's version order — a partial order, never more:

* the initial state (``null``: the store starts empty) precedes every version;
* a transaction that read a version of a key and then wrote the key installed its write
  after what it read;
* a transaction that read a key twice, before writing it, and saw two versions, saw the
  earlier first (versions only move forward).

The last two presume that a read sees an installed version. One that saw a version not
yet installed (a dirty read) can make such an order wrong — but then the history holds a G1
anomaly anyway, which a wrong order can only name differently, never hide or invent.

Every pair *earlier < later* gives **ww** from the earlier version's writer to the later's,
and **rw** from each reader of the earlier to the later's writer. A pair that is not adjacent
in the real version order stands for a path of such edges (an rw followed by ww's), with the
same number of anti-dependencies, so a cycle found is named right.

What it cannot show: without a reported version order, the order of two versions that no
transaction connects — blind writes, writes by transactions that did not read the key — is
unknown, so the ww edge between their writers, and the rw edges from the earlier one's
readers, are missing. A dirty write (G0) between blind writes, or a G-single or G2 through
versions nobody read, can go unseen: what is found is real (given the orders above), but
not everything real is found. Nothing is assumed of real time or of a client's order of
operations (this is serializability, not strict serializability), and no predicate reads
exist in this workload.

The nodes' reported versions (``dchaos_state_ok.versions``), when present, add order: each
list is that key's version order as the node that reported it says, and each pair of
neighbours in it gives edges attributed to that node. They are first cross-checked against
what clients saw (:attr:`Analysis.mismatches`): a value no client wrote, a failed or
intermediate write, a value listed twice, a version a committed transaction read but the
list lacks, or two nodes listing a key's versions in different orders. Where a node orders
two versions against one of the presumed orders above, the node's order is taken (and
noted in :attr:`Analysis.overruled`): a transaction then read a version that, as the node
tells it, its own write preceded — itself a cycle through that read, so a report can turn a
presumption into an anomaly, never hide one.

The graph's cycles are found and named by :mod:`.graph`: by their own edges, G0, G1c,
G-single or G2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

from pytest_dchaos.families.txn.checks.common import Call, Facts
from pytest_dchaos.families.txn.checks.graph import (
    Because,
    Graph,
    Hub,
    Step,
    describe_cycle,
    find_cycles,
    name_of,
    without_hubs,
)
from pytest_dchaos.record.history import FAIL, OK

#: Readers times possible next versions of one version above which their anti-dependencies
#: go through a :class:`~.graph.Hub` (the same cycles, far fewer edges).
HUB_AT = 4096

#: The anomaly names, in the order they are searched and reported.
ANOMALIES: Final = ("internal", "garbage", "G0", "G1a", "G1b", "G1c", "G-single", "G2",
                    "lost-update")

#: Elle's consistency models for read/write registers, and the anomalies each proscribes
#: (Adya's phenomena; lost update is what cursor stability adds). Internal inconsistency and
#: garbage reads no model allows. Without predicates, repeatable read proscribes what
#: serializable does.
MODELS: Final[dict[str, tuple[str, ...]]] = {
    "read-uncommitted": ("internal", "garbage", "G0"),
    "read-committed": ("internal", "garbage", "G0", "G1a", "G1b", "G1c"),
    "cursor-stability": ("internal", "garbage", "G0", "G1a", "G1b", "G1c", "lost-update"),
    "snapshot-isolation": ("internal", "garbage", "G0", "G1a", "G1b", "G1c", "G-single",
                           "lost-update"),
    "repeatable-read": ANOMALIES,
    "serializable": ANOMALIES,
}


class _Initial:
    """The version every key has before any write (the store starts empty)."""

    def __repr__(self) -> str:
        return "the initial state"


INITIAL: Final = _Initial()


@dataclass(frozen=True)
class Anomaly:
    name: str
    detail: str
    txns: tuple[int, ...]
    steps: tuple[Step, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "detail": self.detail,
                                "txns": list(self.txns)}
        if self.steps:
            data["cycle"] = [s.to_json() for s in self.steps]
        return data


@dataclass
class Analysis:
    graph: Graph
    anomalies: dict[str, list[Anomaly]]
    #: Where a node's reported versions contradict what clients saw (or another node).
    mismatches: list[str]
    #: Presumed orders (a transaction's read before its write) a node's report reversed.
    overruled: list[str]
    #: The transactions in the graph (ok, and info ones with writes).
    transactions: int


@dataclass
class _Reads:
    """The history's reads, sorted out: the valid ones by version, and the anomalies."""

    #: (key, version) -> the committed transactions that read it from outside.
    readers: dict[tuple[int, Any], list[Call]] = field(default_factory=lambda: defaultdict(list))
    anomalies: dict[str, list[Anomaly]] = field(
        default_factory=lambda: {n: [] for n in ANOMALIES})


def external_reads(call: Call) -> Iterable[tuple[int, Any]]:
    """The (key, value) of each read that looked outside the transaction: a read of a key
    the transaction had not written yet (a read after its own write sees that write)."""
    written: set[int] = set()
    for kind, key, value in call.ops:
        if kind == "w":
            written.add(key)
        elif key not in written:
            yield key, value


def analyse(f: Facts) -> Analysis:
    graph = Graph()
    members = [c for c in f.calls if c.outcome == OK or (c.outcome != FAIL and c.writes)]
    # Every version a committed (or possibly committed) transaction left: its last write
    # to each key. Intermediate and failed writes are no version of anything.
    installs = {(k, values[-1]): c for c in members for k, values in c.writes.items()}
    reads = _sort_reads(f, installs, graph)
    order: dict[int, dict[Any, dict[Any, Because]]] = defaultdict(lambda: defaultdict(dict))
    for call in members:
        if call.outcome == OK:
            _own_order(call, installs, order)
    mismatches = _cross_check(f, installs, reads)
    overruled = _overrule(f, order)
    for key, by_node in sorted(f.versions.items()):
        for node, listed in sorted(by_node.items()):
            kept = [v for v in listed if (key, v) in installs]
            for earlier, later in pairwise(kept):
                if earlier != later:
                    order[key][earlier].setdefault(later, Because(key, node=node))
    _initial_first(installs, order)
    hubs = _Hubs()
    for key, pairs in order.items():
        for earlier, laters in pairs.items():
            readers = reads.readers.get((key, earlier), [])
            after = {later: installs[(key, later)] for later in laters}
            before = installs.get((key, earlier))
            for later, because in laters.items():
                if before is not None:
                    graph.add(before, after[later], "ww", because)
            if len(readers) * len(laters) > HUB_AT:
                hubs.connect(graph, key, readers,
                             [(after[later], because) for later, because in laters.items()])
                continue
            for later, because in laters.items():
                for reader in readers:
                    graph.add(reader, after[later], "rw", because)
    found = reads.anomalies
    found["internal"] = [a for c in f.calls if c.outcome == OK for a in _internal(c)]
    found["lost-update"] = _lost_updates(f)
    for cycle in (_from_lowest(without_hubs(c)) for c in find_cycles(graph)):
        found[name_of(cycle)].append(Anomaly(name_of(cycle), describe_cycle(cycle),
                                             tuple(s.src for s in cycle), cycle))
    return Analysis(graph, found, mismatches, overruled, len(members))


class _Hubs:
    """Anti-dependencies from every reader of a version to every writer of a version that
    may follow it (but its own), through :class:`~.graph.Hub` vertices: ``R + W`` edges
    and a few hubs instead of ``R * W`` edges.

    One hub ``H`` reaches every writer that did not also read the version. A transaction
    that did both must reach every writer but itself, so those, ``S1 .. Sm``, hang off two
    chains: ``P_i`` reaches ``S1 .. Si`` (``P_i -> P_(i-1)``, ``P_i -> S_i``) and ``Q_i``
    reaches ``Si .. Sm``; ``S_i`` goes to ``H``, ``P_(i-1)`` and ``Q_(i+1)``, never back to
    itself. A reader that wrote no such version goes to ``H``, ``P_m``. Every path from a
    reader through hubs to a writer is one of the anti-dependencies, and no other."""

    def __init__(self) -> None:
        self.made = 0

    def hub(self) -> Hub:
        self.made += 1
        return Hub(-self.made)

    def connect(self, graph: Graph, key: int, readers: list[Call],
                writers: list[tuple[Call, Because]]) -> None:
        reading = {r.index for r in readers}
        both = [(w, b) for w, b in writers if w.index in reading]
        others = [(w, b) for w, b in writers if w.index not in reading]
        hub = self.hub()
        for writer, because in others:
            graph.add(hub, writer, "ww", because)
        prefix: list[Hub] = []  # prefix[i] reaches both[0 .. i]
        for i, (writer, because) in enumerate(both):
            prefix.append(self.hub())
            graph.add(prefix[i], writer, "ww", because)
            if i:
                graph.add(prefix[i], prefix[i - 1], "ww", Because(key))
        suffix: list[Hub] = []  # built from the end: reversed, suffix[i] reaches both[i ..]
        for i in reversed(range(len(both))):
            suffix.append(self.hub())
            graph.add(suffix[-1], both[i][0], "ww", both[i][1])
            if len(suffix) > 1:
                graph.add(suffix[-1], suffix[-2], "ww", Because(key))
        suffix.reverse()
        position = {w.index: i for i, (w, _) in enumerate(both)}
        for reader in readers:
            graph.add(reader, hub, "rw", Because(key))
            if reader.index not in position:
                if prefix:
                    graph.add(reader, prefix[-1], "rw", Because(key))
                continue
            i = position[reader.index]
            if i > 0:
                graph.add(reader, prefix[i - 1], "rw", Because(key))
            if i + 1 < len(both):
                graph.add(reader, suffix[i + 1], "rw", Because(key))


def _sort_reads(f: Facts, installs: Mapping[tuple[int, Any], Call], graph: Graph) -> _Reads:
    """wr edges from every read that names a version; G1a and G1b from those that name a
    value that never became one."""
    reads = _Reads()
    for call in f.calls:
        if call.outcome != OK:
            continue  # a failed transaction's reads do not matter, an unknown one's are unknown
        for key, value in external_reads(call):
            if value is None:
                reads.readers[(key, INITIAL)].append(call)
                continue
            source = f.writer.get((key, value))
            if source is None:
                reads.anomalies["garbage"].append(Anomaly(
                    "garbage", f"T{call.index} read key {key} = {value!r}, which no "
                    f"transaction wrote", (call.index,)))
                continue
            if source is call:
                continue  # its own write, read before it wrote it: internal says so
            if source.outcome == FAIL:
                reads.anomalies["G1a"].append(Anomaly(
                    "G1a", f"T{call.index} read key {key} = {value}, written by T"
                    f"{source.index}, which failed (aborted)", (call.index, source.index)))
            elif (key, value) not in installs:
                reads.anomalies["G1b"].append(Anomaly(
                    "G1b", f"T{call.index} read key {key} = {value}, which T{source.index} "
                    f"overwrote itself (an intermediate write)", (call.index, source.index)))
            else:
                reads.readers[(key, value)].append(call)
                graph.add(source, call, "wr", Because(key))
    return reads


def _internal(call: Call) -> Iterable[Anomaly]:
    """Reads of one committed transaction that do not return its own earlier write."""
    wrote: dict[int, Any] = {}
    for kind, key, value in call.ops:
        if kind == "w":
            wrote[key] = value
        elif key in wrote and wrote[key] != value:
            yield Anomaly("internal", f"T{call.index} read key {key} = {value} after it "
                          f"wrote {wrote[key]} itself", (call.index,))


def _own_order(call: Call, installs: Mapping[tuple[int, Any], Call],
               order: dict[int, dict[Any, dict[Any, Because]]]) -> None:
    """The version order one committed transaction shows of each key: what it read before
    writing the key comes before what it wrote, and of two versions it read, the first."""
    seen: dict[int, Any] = {}  # key -> the last version read from outside
    written: set[int] = set()
    for kind, key, value in call.ops:
        if kind == "w":
            if key not in written and key in seen:
                order[key][seen[key]].setdefault(call.writes[key][-1],
                                                 Because(key, txn=call.index))
            written.add(key)
            continue
        if key in written:
            continue
        version = INITIAL if value is None else value
        if version is not INITIAL and (key, version) not in installs:
            continue  # not a version (G1a, G1b, or nobody's value): it orders nothing
        # Nothing comes before the initial state: a read of it after another version is no
        # order, but a read that the rw and wr edges already tie into a cycle.
        if key in seen and seen[key] != version and version is not INITIAL:
            order[key][seen[key]].setdefault(version, Because(key, txn=call.index))
        seen[key] = version


def _initial_first(installs: Mapping[tuple[int, Any], Call],
                   order: dict[int, dict[Any, dict[Any, Because]]]) -> None:
    """The initial state precedes every version: said only of versions nothing else
    precedes, since the rest follow from those."""
    later = {(k, v) for k, pairs in order.items() for laters in pairs.values() for v in laters}
    for key, value in installs:
        if (key, value) not in later:
            order[key][INITIAL].setdefault(value, Because(key))


def _lost_updates(f: Facts) -> list[Anomaly]:
    both: dict[tuple[int, Any], list[Call]] = defaultdict(list)
    for call in f.calls:
        if call.outcome != OK:
            continue
        first: dict[int, Any] = {}
        for key, value in external_reads(call):
            first.setdefault(key, value)
        for key in call.writes:
            if key in first:
                both[(key, first[key])].append(call)
    found = []
    for (key, value), calls in both.items():
        if len(calls) > 1:
            seen = "its initial state" if value is None else value
            found.append(Anomaly("lost-update", f"T{', T'.join(str(c.index) for c in calls)} "
                                 f"all read key {key} = {seen} and all wrote key {key}",
                                 tuple(c.index for c in calls)))
    return found


def _from_lowest(cycle: tuple[Step, ...]) -> tuple[Step, ...]:
    """The same cycle, told from its earliest transaction (so a person reads it in the
    order of the history, and a test can spell it)."""
    start = min(range(len(cycle)), key=lambda i: cycle[i].src)
    return cycle[start:] + cycle[:start]


# -- reported versions against the history ------------------------------------------------


def _overrule(f: Facts, order: dict[int, dict[Any, dict[Any, Because]]]) -> list[str]:
    """Drop each order presumed from a transaction's own reads and writes that a node's
    list reverses: the node's word is specific, the presumption only a presumption."""
    overruled = []
    for key, by_node in sorted(f.versions.items()):
        for node, listed in sorted(by_node.items()):
            position = {v: i for i, v in reversed(list(enumerate(listed)))}
            for earlier, laters in order.get(key, {}).items():
                for later in [v for v in laters if earlier in position and v in position
                              and position[v] < position[earlier]]:
                    because = laters.pop(later)
                    overruled.append(f"{node} lists key {key} = {later} before {earlier}, "
                                     f"which T{because.txn} saw first")
    return overruled


def _cross_check(f: Facts, installs: Mapping[tuple[int, Any], Call], reads: _Reads
                 ) -> list[str]:
    """Where a node's reported versions contradict what clients saw, or another node."""
    found: list[str] = []
    read: dict[int, dict[Any, Call]] = defaultdict(dict)  # key -> version -> first reader
    for (key, value), readers in reads.readers.items():
        if value is not INITIAL:
            read[key][value] = readers[0]
    for key, by_node in sorted(f.versions.items()):
        for node, listed in sorted(by_node.items()):
            found += _check_list(f, node, key, listed, installs, read.get(key, {}))
        nodes = sorted(by_node)
        for i, one in enumerate(nodes):
            for other in nodes[i + 1:]:
                found += _disagree(key, one, by_node[one], other, by_node[other])
    return found


def _check_list(f: Facts, node: str, key: int, listed: list[Any],
                installs: Mapping[tuple[int, Any], Call], read: Mapping[Any, Call]
                ) -> list[str]:
    found = []
    position: dict[Any, int] = {}
    for value in listed:
        writer = f.writer.get((key, value))
        if value in position:
            found.append(f"{node} lists key {key} = {value} twice")
        elif writer is None:
            found.append(f"{node} lists key {key} = {value}, which no client wrote")
        elif writer.outcome == FAIL:
            found.append(f"{node} lists key {key} = {value}, written by T{writer.index}, "
                         "which failed (aborted)")
        elif (key, value) not in installs:
            found.append(f"{node} lists key {key} = {value}, which T{writer.index} "
                         "overwrote itself")
        position.setdefault(value, len(position))
    for value, reader in sorted(read.items(), key=lambda item: item[1].index):
        if value not in position:
            found.append(f"{node} lists key {key} without {value}, which T{reader.index} "
                         "read")
    return found


def _disagree(key: int, one: str, first: list[Any], other: str, second: list[Any]
              ) -> list[str]:
    """Two nodes listing some of one key's versions in different orders."""
    where = {v: i for i, v in enumerate(second)}
    common = [v for v in first if v in where]
    for earlier, later in pairwise(common):
        if where[earlier] > where[later]:
            return [f"{one} lists key {key} = {earlier} before {later}, {other} the other "
                    "way round"]
    return []


