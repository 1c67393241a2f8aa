"""Fault schedules nobody wrote: drawn from a seed over the fault vocabulary.

A schedule is a list of plain fault entries — the dicts a scenario's ``faults:`` list holds,
with absolute ``at`` times and ``duration``s written in units (``1250ms``) — so a schedule
put into a scenario is an ordinary scenario file, validated by the ordinary loader, and a
minimal one can be handed to ``dchaos run`` and pytest as it is. Every choice (which shape,
which nodes, when, how long) is drawn here, never left to the run's seed (no ``random``,
no ``one_of``, no partition ``mode``): removing one entry while shrinking must leave every
other entry exactly as it was.

What is drawn, per fault, is a *shape*: a fault kind with a way of choosing its targets.
:data:`SHAPES` maps each shape name to the function that makes its entry. The shapes cover
Jepsen's partitions (one node isolated, minority/majority, majorities ring, bridge) and
one-way cuts, crash / stop / pause / restart of a node, latency and bandwidth spikes on
links, and message loss, duplication and reordering; and, for Byzantine-fault-tolerant families,
traitors (below).

Faults aimed at the node in a leading role (``kill: leader``, ``partition: {isolate:
leader}``) are drawn only for a family that names that role
(:attr:`~pytest_dchaos.families.base.ProtocolFamily.leader_role`); the node is the one
leading when the fault fires, so the entry says ``leader`` and the run's fault timeline says
which node it was.

Byzantine replicas are drawn only where the space allows them (:attr:`ScheduleSpace.byzantine`:
a Byzantine-fault-tolerant family, a cluster big enough, ``f`` not already spent on
twins), in half the schedules and at most one per schedule, so no schedule breaks the bound
the protocol promises to hold under: a failure found is a bug, never too many traitors. A
traitor is either a behaviour the node implements (``byzantine: {node, behavior}``, of a
random node or of the leader) or one made by its agent, which works on any node: ByzzFuzz's
small-scope mutations (Winter et al., 2023), one node's outgoing messages with an integer
field moved by one (``message: {mutate}``) or earlier ones sent again (``message:
{replay}``).

Twins are not faults but a cluster setting (``cluster.twins``), drawn by :func:`draw_twin`
from a generator of their own, so a schedule's faults are the same with or without one: in
a third of the schedules where the space allows one (:attr:`ScheduleSpace.twins`), a twin of
a random node or of the node that leads first, talking to a random part of the others, and
hearing clients in another order (``reorder``). It takes the place of a traitor: the caller
draws the faults with one Byzantine replica fewer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_dchaos.faults.byzantine import BEHAVIOURS

#: One entry of a scenario's ``faults:`` list, as YAML holds it.
FaultEntry = dict[str, Any]

#: Times are drawn on this grid (seconds): fine enough for any workload, coarse enough to
#: read, and exact in milliseconds.
GRID = 0.01


def seconds_text(seconds: float) -> str:
    """``seconds`` as a scenario duration, exact to the millisecond: ``2s``, ``1250ms``."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def entry_seconds(value: Any) -> float:
    """A duration of a generated entry (``1250ms``) back in seconds."""
    text = str(value)
    if text.endswith("ms"):
        return int(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    raise ValueError(f"not a generated duration: {value!r}")


def fault_kind(entry: Mapping[str, Any]) -> str:
    """The fault key of an entry: the one key that is not timing."""
    kinds = [k for k in entry if k not in ("at", "duration", "every", "times", "until")]
    if len(kinds) != 1:
        raise ValueError(f"a fault entry holds one fault, got {sorted(entry)}")
    return kinds[0]


@dataclass(frozen=True)
class ScheduleSpace:
    """What schedules are drawn over: the cluster's nodes, the workload's length, how many
    faults at most, and which shapes (all of :data:`SHAPES` that the cluster's size allows,
    unless narrowed)."""

    nodes: tuple[str, ...]
    duration: float
    max_faults: int = 3
    shapes: tuple[str, ...] = ()
    #: The fault kinds the installed plugins provide; shapes needing another are left out.
    installed: frozenset[str] = field(default_factory=lambda: frozenset(
        ("partition", "message", "kill", "stop", "pause", "restart", "latency", "toxic",
         "byzantine")))
    #: Whether the family can tell which node leads (shapes aimed at ``leader`` need it).
    leader: bool = False
    #: How many replicas may turn Byzantine (0: none, and no Byzantine shape is drawn).
    byzantine: int = 0
    #: Whether the nodes turn Byzantine when asked (``dchaos_byzantine``); the traitors
    #: their agents make need nothing of them.
    behaviours: bool = True
    #: Whether a schedule may have a twin: a family that takes twins, a scenario without,
    #: and f not spent (a twin is a traitor; Byzantine faults are then drawn one fewer).
    twins: bool = False
    #: The node that leads when the run starts, where the family can tell (PBFT: n1).
    first_leader: str | None = None

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a schedule needs at least one node")
        if self.duration <= 2 * GRID:
            raise ValueError(f"the workload lasts {self.duration:g}s: too short for faults")
        if self.max_faults < 1:
            raise ValueError("max_faults must be at least 1")
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown:
            raise ValueError(f"unknown shape(s) {', '.join(unknown)}; "
                             f"known: {', '.join(SHAPES)}")

    def usable_shapes(self) -> tuple[str, ...]:
        """The shapes this cluster can have, of those chosen (all, unless narrowed)."""
        chosen = self.shapes or tuple(SHAPES)
        return tuple(name for name in chosen if self.why_not(name) is None)

    def why_not(self, name: str) -> str | None:
        """Why shape ``name`` cannot be drawn here, or None if it can: a partition needs
        two nodes, a majorities ring four (with three, every node already sees a
        majority), a bridge three; a traitor a protocol that tolerates one."""
        shape = SHAPES[name]
        if shape.byzantine and self.byzantine <= 0:
            return ("no replica may turn Byzantine here: that takes a protocol that "
                    "tolerates Byzantine replicas, n >= 3f + 1 with f >= 1, and f not "
                    "spent on the scenario's twins")
        if shape.needs_leader and not self.leader:
            return "this protocol names no leading node"
        if shape.kind not in self.installed:
            return f"no installed plugin provides the {shape.kind} fault"
        if len(self.nodes) < shape.min_nodes:
            return f"it needs {shape.min_nodes} nodes or more; this cluster has {len(self.nodes)}"
        if shape.asks_node and not self.behaviours:
            return "the node does not turn Byzantine when asked (dchaos_byzantine)"
        return None

    def narrowed(self, names: Sequence[str], *, strict: bool = True) -> ScheduleSpace:
        """This space with only the faults ``names`` names (``--faults``): fault kinds (each
        standing for those of its shapes that can be drawn here; a name that is both a kind
        and a shape means the kind), shapes, and :data:`TWINS`. Raises ValueError, saying
        why, for a name that is none of these or, if ``strict``, that nothing here can
        draw; not ``strict`` (a family's own fault model), such a name is passed over, and
        only nothing drawable at all is an error."""
        chosen: list[str] = []
        passed_over: dict[str, list[str]] = {}  # reason -> the names it rules out

        def cannot(name: str, reason: str) -> None:
            if strict:
                raise ValueError(f"{name} cannot be drawn here: {reason}")
            passed_over.setdefault(reason, []).append(name)

        for name in names:
            if name == TWINS:
                if not self.twins:
                    cannot(name, "that takes a protocol that takes twins (n >= 3f + 1 with "
                           "f >= 1), a scenario with no twins of its own, and f not spent")
            elif name in KINDS:  # before shapes: `kill` is every kill, the leader's too
                of_kind = [n for n in SHAPES if SHAPES[n].category == name]
                usable = [n for n in of_kind if self.why_not(n) is None]
                if not usable:  # why its plainest shape (the first) cannot be
                    cannot(name, str(self.why_not(of_kind[0])))
                chosen += usable
            elif name in SHAPES:
                reason = self.why_not(name)
                if reason is not None:
                    cannot(name, reason)
                else:
                    chosen.append(name)
            else:
                raise ValueError(f"{name!r} is not a fault: name fault kinds "
                                 f"({', '.join(KINDS)}), shapes ({', '.join(SHAPES)}) or "
                                 f"{TWINS}")
        if not chosen and passed_over:
            raise ValueError("none of its faults can be drawn here: " + "; ".join(
                f"{', '.join(names)} ({reason})" for reason, names in passed_over.items()))
        if not chosen:
            raise ValueError("twins come beside faults, in a third of the schedules: name "
                             "a fault kind or shape too")
        return replace(self, shapes=tuple(dict.fromkeys(chosen)),
                       twins=self.twins and TWINS in names)


@dataclass(frozen=True)
class Shape:
    """A way to make one fault entry: its kind, the smallest cluster it makes sense on,
    whether it takes a ``duration``, and the function that draws its options."""

    kind: str
    min_nodes: int
    make: Callable[[random.Random, tuple[str, ...]], Any]
    timed: bool = True
    #: Aimed at ``leader``: drawn only where the family can tell who leads.
    needs_leader: bool = False
    #: Makes a replica Byzantine: drawn only where the space allows one, once per schedule.
    byzantine: bool = False
    #: Asks the node to misbehave (``dchaos_byzantine``), which not every node implements.
    asks_node: bool = False
    #: The kind ``--faults`` files it under, where that is not the kind of entry it makes:
    #: Jepsen's ring and bridge are partitions written as message rules, an agent's
    #: mutations and replays are traitors.
    filed_as: str | None = None

    @property
    def category(self) -> str:
        """The fault kind ``--faults`` names this shape by."""
        return self.filed_as or self.kind


@dataclass(frozen=True)
class GeneratedFault:
    """One drawn fault: its entry, and the shape it was drawn as (for progress and
    coverage; the entry alone is what runs)."""

    shape: str
    entry: FaultEntry


def generate(space: ScheduleSpace, seed: int) -> list[GeneratedFault]:
    """A schedule of 1..``space.max_faults`` faults, the same for the same seed, every time
    and duration on :data:`GRID` with ``at + duration`` inside the workload, in time order.
    """
    shapes = space.usable_shapes()
    if not shapes:
        raise ValueError(f"no fault shape fits a cluster of {len(space.nodes)} node(s)")
    rng = random.Random(f"dchaos-explore:{seed}")
    count = rng.randint(1, space.max_faults)
    traitors = [x for x in shapes if SHAPES[x].byzantine]
    others = [x for x in shapes if not SHAPES[x].byzantine]
    faults: list[GeneratedFault] = []
    if traitors and (not others or rng.random() < 0.5):
        # Byzantine behaviour is what such a protocol is for: half the schedules have one
        # traitor (drawn as one shape among many, it would be in one in six), and none
        # has two, so f = 1 is never exceeded.
        faults.append(_draw(rng, rng.choice(traitors), space))
    while len(faults) < count and others:
        faults.append(_draw(rng, rng.choice(others), space))
    faults.sort(key=lambda f: entry_seconds(f.entry["at"]))
    return faults


def _draw(rng: random.Random, shape_name: str, space: ScheduleSpace) -> GeneratedFault:
    shape = SHAPES[shape_name]
    steps = math.floor(space.duration / GRID + 1e-9)
    # Start in the first 80% of the workload, so there is time for the fault to matter.
    at_step = rng.randint(0, max(0, math.floor(steps * 0.8) - 1))
    entry: FaultEntry = {"at": seconds_text(at_step * GRID)}
    entry[shape.kind] = shape.make(rng, space.nodes)
    if shape.timed:
        room = steps - at_step
        # Between a tenth of the workload and all that is left of it.
        shortest = min(room, max(1, steps // 10))
        entry["duration"] = seconds_text(rng.randint(shortest, room) * GRID)
    return GeneratedFault(shape_name, entry)


#: How long a twin's client messages may be held back (ms): from a few requests of a busy
#: workload overtaking one another to most of a slow one's. (20 ms was tried: at 200
#: requests/s it left a twin primary telling nearly its original's story, and a primary-
#: trusting replica passed.)
TWIN_REORDER_MS = (50, 100, 200)


def draw_twin(space: ScheduleSpace, seed: int) -> FaultEntry | None:
    """The twin of the ``seed``-th schedule, as a ``cluster.twins`` entry, or None.

    Drawn in a third of the schedules, where the space allows a twin (n >= 3f + 1 with
    f >= 1, four nodes at least). The node is the first leader half the time (a twin primary
    tells its two sides two orders), else any node; it sees a random non-empty part of the
    others and its original the rest, so no side hears both copies.
    """
    if not space.twins or len(space.nodes) < 4:
        return None
    rng = random.Random(f"dchaos-explore-twin:{seed}")
    if rng.random() >= 1 / 3:
        return None
    leader = space.first_leader if space.first_leader in space.nodes else None
    node = leader if leader is not None and rng.random() < 0.5 else rng.choice(space.nodes)
    others = _shuffled(rng, [n for n in space.nodes if n != node])
    sees = _sorted(others[:rng.randint(1, len(others) - 1)])
    return {"node": node, "sees": sees, "reorder": f"{rng.choice(TWIN_REORDER_MS)}ms"}


def _shuffled(rng: random.Random, nodes: Sequence[str]) -> list[str]:
    out = list(nodes)
    rng.shuffle(out)
    return out


def _sorted(nodes: Sequence[str]) -> list[str]:
    return sorted(nodes, key=lambda n: (len(n), n))


def _links(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{a}->{b}" for a, b in sorted(pairs, key=lambda p: (_key(p[0]), _key(p[1])))]


def _key(node: str) -> tuple[int, str]:
    return (len(node), node)


def _isolate(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return {"isolate": rng.choice(nodes)}


def _minority_majority(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    order = _shuffled(rng, nodes)
    half = len(order) // 2
    return {"groups": [_sorted(order[:half]), _sorted(order[half:])]}


def _one_way(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    order = _shuffled(rng, nodes)
    cut = rng.randint(1, len(order) - 1)
    return {"from": _sorted(order[:cut]), "to": _sorted(order[cut:])}


def _cut_links(links: Sequence[tuple[str, str]]) -> Any:
    # The partition fault cuts between whole groups only; a cut of any set of links is
    # made by the sending agents dropping every message on them (a message rule).
    return {"drop": 1.0, "links": _links(links)}


def _majorities_ring(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    """Jepsen's majorities ring: nodes on a ring, each sees its neighbours within ``k``
    (a majority, itself included), and no two see the same majority."""
    ring = _shuffled(rng, nodes)
    n = len(ring)
    k = math.ceil((n // 2) / 2)
    cut = []
    for i, a in enumerate(ring):
        for j, b in enumerate(ring):
            distance = min(abs(i - j), n - abs(i - j))
            if distance > k:
                cut.append((a, b))
    return _cut_links(cut)


def _bridge(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    """Two halves cut from each other, joined by one node that reaches both."""
    order = _shuffled(rng, nodes)
    rest = order[1:]
    half = len(rest) // 2
    left, right = rest[:half], rest[half:]
    return _cut_links([(a, b) for a in left for b in right]
                      + [(b, a) for a in left for b in right])


def _one_node(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return rng.choice(nodes)


def _leader(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return "leader"


def _isolate_leader(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return {"isolate": "leader"}


def _byzantine(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return {"node": rng.choice(nodes), "behavior": rng.choice(BEHAVIOURS)}


def _byzantine_leader(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    return {"node": "leader", "behavior": rng.choice(BEHAVIOURS)}


def _some_links(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    """All links, one node's links (both ways), or a single link."""
    pick = rng.random()
    if pick < 0.3:
        return "all"
    if pick < 0.7:
        node = rng.choice(nodes)
        return _links([(node, o) for o in nodes if o != node]
                      + [(o, node) for o in nodes if o != node])
    a, b = rng.sample(nodes, 2)
    return _links([(a, b)])


def _latency(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    latency = rng.choice((50, 100, 200, 500, 1000))
    jitter = rng.choice((0, latency // 4, latency // 2))
    return {"latency": f"{latency}ms", "jitter": f"{jitter}ms", "links": _some_links(rng, nodes)}


def _bandwidth(rng: random.Random, nodes: tuple[str, ...]) -> Any:
    # Toxiproxy's bandwidth rate is KB/s; 1 KB/s is a few protocol messages a second.
    return {"type": "bandwidth", "attributes": {"rate": rng.choice((1, 4, 16))},
            "links": _some_links(rng, nodes)}


def _traitor_messages(kind: str) -> Callable[[random.Random, tuple[str, ...]], Any]:
    """One node's messages to every other node, mutated or replayed with a small chance
    each: ByzzFuzz's small scope (a field off by one, an earlier message again) is where
    implementations trust what they should check."""
    def make(rng: random.Random, nodes: tuple[str, ...]) -> Any:
        traitor = rng.choice(nodes)
        return {kind: rng.choice((0.05, 0.1, 0.3)),
                "links": _links([(traitor, other) for other in nodes if other != traitor])}
    return make


def traitors(entries: Sequence[FaultEntry]) -> int:
    """How many replicas a schedule makes Byzantine (one per such entry: a schedule has
    at most one, see :func:`generate`)."""
    return sum(makes_traitor(e) for e in entries)


def makes_traitor(entry: Mapping[str, Any]) -> bool:
    """A ``byzantine`` entry, or a ``message`` one whose senders mutate or replay."""
    kind = fault_kind(entry)
    options = entry[kind]
    return kind == "byzantine" or (kind == "message" and isinstance(options, Mapping)
                                   and bool(options.get("mutate") or options.get("replay")))


def _message(kind: str) -> Callable[[random.Random, tuple[str, ...]], Any]:
    def make(rng: random.Random, nodes: tuple[str, ...]) -> Any:
        options: dict[str, Any] = {kind: rng.choice((0.1, 0.3, 0.5, 0.9))}
        if kind == "reorder":
            options["window"] = f"{rng.choice((20, 50, 200))}ms"
        options["links"] = _some_links(rng, nodes)
        return options
    return make


#: Every shape the generator draws, by name.
SHAPES: dict[str, Shape] = {
    "isolate": Shape("partition", 2, _isolate),
    "minority_majority": Shape("partition", 2, _minority_majority),
    "majorities_ring": Shape("message", 4, _majorities_ring, filed_as="partition"),
    "bridge": Shape("message", 3, _bridge, filed_as="partition"),
    "one_way": Shape("partition", 2, _one_way),
    "kill": Shape("kill", 1, _one_node),
    "stop": Shape("stop", 1, _one_node),
    "pause": Shape("pause", 1, _one_node),
    "restart": Shape("restart", 1, _one_node, timed=False),
    "isolate_leader": Shape("partition", 2, _isolate_leader, needs_leader=True),
    "kill_leader": Shape("kill", 1, _leader, needs_leader=True),
    "stop_leader": Shape("stop", 1, _leader, needs_leader=True),
    "pause_leader": Shape("pause", 1, _leader, needs_leader=True),
    "restart_leader": Shape("restart", 1, _leader, timed=False, needs_leader=True),
    "latency": Shape("latency", 2, _latency),
    "bandwidth": Shape("toxic", 2, _bandwidth),
    "loss": Shape("message", 2, _message("drop")),
    "duplicate": Shape("message", 2, _message("duplicate")),
    "reorder": Shape("message", 2, _message("reorder")),
    # n >= 3f + 1 with f >= 1.
    "byzantine": Shape("byzantine", 4, _byzantine, byzantine=True, asks_node=True),
    "byzantine_leader": Shape("byzantine", 4, _byzantine_leader, needs_leader=True,
                              byzantine=True, asks_node=True),
    "mutate": Shape("message", 4, _traitor_messages("mutate"), byzantine=True,
                    filed_as="byzantine"),
    "replay": Shape("message", 4, _traitor_messages("replay"), byzantine=True,
                    filed_as="byzantine"),
}

#: The fault kinds ``--faults`` takes, each for all its shapes.
KINDS: tuple[str, ...] = tuple(dict.fromkeys(shape.category for shape in SHAPES.values()))

#: What ``--faults`` calls twins (a cluster setting, drawn beside the faults).
TWINS = "twins"


__all__ = ["KINDS", "SHAPES", "TWINS", "FaultEntry", "GeneratedFault", "ScheduleSpace", "Shape",
           "draw_twin", "entry_seconds", "fault_kind", "generate", "makes_traitor", "seconds_text",
           "traitors"]
