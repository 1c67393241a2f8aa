"""The dependency graph of transactions and its cycles, each named by its own edges.

Nodes are transactions, by their index in the history (T1, T2, ...); an edge holds one or
more kinds — ww (write-write), wr (write-read), rw (read-write: an anti-dependency) — each
with the reason it holds (:class:`Because`). An edge that is several kinds at once is taken
as its weakest (ww, then wr, then rw), so a cycle is named by the least it needs.

Cycles are searched as Elle searches them: the ww edges first, then ww and wr, then all. A
cycle of ww edges only is **G0**; of ww and wr with at least one wr, **G1c**; with exactly one
rw, **G-single**; with two or more, **G2** (G2-item). Each strongly connected component
yields at most one cycle of each name: one witness is what a verdict needs, and a broken
store's components are large.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final, Literal, Protocol

Kind = Literal["ww", "wr", "rw"]
#: Weakest first: an edge that is several kinds at once is taken as the first of them.
KINDS: Final[tuple[Kind, ...]] = ("ww", "wr", "rw")
#: How many anti-dependencies of one component to try as the start of a G-single or G2
#: cycle: the search is a breadth-first walk per try, and a badly broken store has huge
#: components; one witness per component is all a verdict needs.
TRIES: Final = 100


class Transaction(Protocol):
    """What the graph needs of a transaction: its index in the history."""

    @property
    def index(self) -> int: ...


@dataclass(frozen=True)
class Hub:
    """A stand-in for many anti-dependencies at once: every reader of one version precedes
    every writer of the versions that may come next. ``R`` readers and ``W`` writers make
    ``R * W`` rw edges, which a store whose reads never see a write (so that nothing orders
    its versions) turns into tens of millions; through a hub they are ``R + W``: each
    reader -rw-> hub -ww-> each writer. A path through a hub is exactly one of those rw
    edges, so the components and the cycles are the same; :func:`without_hubs` tells a
    cycle without its hubs. A hub's index is negative, never a transaction's."""

    index: int


@dataclass(frozen=True)
class Because:
    """Who says a version order or an edge holds: the history (a transaction's reads and
    writes, or a read's value) or a node's reported versions."""

    key: int
    #: The transaction whose own reads and writes order two versions, if that is why.
    txn: int | None = None
    #: The node whose reported versions say so; None when the history does.
    node: str | None = None

    def label(self) -> str:
        return f"key {self.key}" + (f", as {self.node} reports" if self.node else "")


@dataclass(frozen=True)
class Step:
    """One edge of a cycle: ``src`` precedes ``dst`` by ``kind`` on a key."""

    src: int
    kind: Kind
    because: Because
    dst: int

    def to_json(self) -> dict[str, Any]:
        return {"from": self.src, "kind": self.kind, "key": self.because.key,
                "reported_by": self.because.node, "to": self.dst}


def name_of(steps: Iterable[Step]) -> str:
    """A cycle's name from its own edges (each already its weakest kind)."""
    kinds = [s.kind for s in steps]
    rw = kinds.count("rw")
    if rw:
        return "G-single" if rw == 1 else "G2"
    return "G1c" if "wr" in kinds else "G0"


def describe_cycle(steps: tuple[Step, ...]) -> str:
    text = f"T{steps[0].src}"
    for step in steps:
        text += f" -{step.kind} ({step.because.label()})-> T{step.dst}"
    return text


@dataclass
class Graph:
    """Transactions (by their index in the history) and the dependencies between them."""

    edges: dict[int, dict[int, dict[Kind, Because]]] = field(
        default_factory=lambda: defaultdict(dict))

    def add(self, src: Transaction, dst: Transaction, kind: Kind, because: Because
            ) -> None:
        if src is dst:
            return
        # The first reason given is kept: the history's come before the nodes'.
        self.edges[src.index].setdefault(dst.index, {}).setdefault(kind, because)

    def weakest(self, src: int, dst: int) -> tuple[Kind, Because]:
        kinds = self.edges[src][dst]
        kind = next(k for k in KINDS if k in kinds)
        return kind, kinds[kind]

    def successors(self, node: int, kinds: frozenset[Kind]) -> Iterable[int]:
        for dst in self.edges.get(node, {}):
            if self.weakest(node, dst)[0] in kinds:
                yield dst

    def count(self) -> dict[Kind, int]:
        """Edges by kind; through a hub, each reader's edge into it counts as one rw."""
        counts = dict.fromkeys(KINDS, 0)
        for src, targets in self.edges.items():
            if src < 0:
                continue
            for kinds in targets.values():
                for kind in kinds:
                    counts[kind] += 1
        return counts


def without_hubs(cycle: tuple[Step, ...]) -> tuple[Step, ...]:
    """The cycle as transactions' edges: reader -rw-> hub(s) -ww-> writer is the one
    anti-dependency reader -rw-> writer it stands for (with the reason the order holds)."""
    if not any(s.dst < 0 for s in cycle):
        return cycle
    start = next(i for i, s in enumerate(cycle) if s.src >= 0)
    steps = cycle[start:] + cycle[:start]
    out: list[Step] = []
    for step in steps:
        if step.src < 0:  # leaves a hub: one edge with the step that went in
            into = out.pop()
            out.append(Step(into.src, into.kind, step.because, step.dst))
        else:
            out.append(step)
    return tuple(out)


WW: Final = frozenset[Kind]({"ww"})
WW_WR: Final = frozenset[Kind]({"ww", "wr"})
ALL: Final = frozenset[Kind](KINDS)


def find_cycles(graph: Graph) -> list[tuple[Step, ...]]:
    """One cycle of each name per strongly connected component that has one: G0 in the ww
    edges, G1c in the ww and wr edges (through a wr), then G-single and G2 in all."""
    found: list[tuple[Step, ...]] = []
    nodes = list(graph.edges)
    for component in components(nodes, lambda n: graph.successors(n, WW)):
        found.append(_close(graph, component[0], component, WW))
    for component in components(nodes, lambda n: graph.successors(n, WW_WR)):
        cycle = _through(graph, component, "wr", WW_WR, 0)
        if cycle is not None:
            found.append(cycle)
    for component in components(nodes, lambda n: graph.successors(n, ALL)):
        for more in (0, 1):  # G-single: no further rw on the way back; G2: at least one
            cycle = _through(graph, component, "rw", WW_WR if not more else ALL, more)
            if cycle is not None:
                found.append(cycle)
    return found


def components(nodes: Iterable[int], successors: Callable[[int], Iterable[int]]
               ) -> list[list[int]]:
    """Strongly connected components of more than one node (Tarjan, iterative), each
    sorted."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    result: list[list[int]] = []
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(list(successors(root))))]
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(list(successors(child)))))
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
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def _close(graph: Graph, start: int, component: list[int], kinds: frozenset[Kind]
           ) -> tuple[Step, ...]:
    """A shortest cycle through ``start`` over ``kinds`` (one exists: same component)."""
    inside = set(component)
    nxt = next(n for n in graph.successors(start, kinds) if n in inside)
    path = _walk(graph, nxt, start, inside, kinds, 0)
    assert path is not None, "a component's nodes reach each other"
    return (_step(graph, start, nxt), *path)


def _through(graph: Graph, component: list[int], kind: Kind, back: frozenset[Kind],
             more: int) -> tuple[Step, ...] | None:
    """A cycle that starts with an edge of ``kind`` and comes back over ``back`` edges,
    with ``more`` (0, or at least 1) further rw edges on the way back."""
    inside = set(component)
    tries = 0
    for src in component:
        for dst in graph.edges.get(src, {}):
            if dst not in inside or graph.weakest(src, dst)[0] != kind:
                continue
            path = _walk(graph, dst, src, inside, back, more)
            if path is not None:
                return (_step(graph, src, dst), *path)
            tries += 1
            if tries >= TRIES:
                return None
    return None


def _walk(graph: Graph, start: int, goal: int, inside: set[int], kinds: frozenset[Kind],
          rw_needed: int) -> tuple[Step, ...] | None:
    """A shortest path from ``start`` to ``goal`` inside a component over ``kinds`` edges
    with at least ``rw_needed`` (0 or 1) rw edges, visiting no transaction twice; None if
    there is none (or the shortest such walk repeats one)."""
    first = (start, 0)
    came: dict[tuple[int, int], tuple[int, int] | None] = {first: None}
    queue = deque([first])
    while queue:
        state = queue.popleft()
        node, seen_rw = state
        if node == goal:
            if seen_rw >= rw_needed:
                return _unwind(graph, came, state)
            continue  # the goal is where the cycle closes: never walk through it
        for nxt in graph.successors(node, kinds):
            if nxt not in inside:
                continue
            after = (nxt, min(1, seen_rw + (graph.weakest(node, nxt)[0] == "rw")))
            if after not in came:
                came[after] = state
                queue.append(after)
    return None


def _unwind(graph: Graph, came: Mapping[tuple[int, int], tuple[int, int] | None],
            state: tuple[int, int]) -> tuple[Step, ...] | None:
    nodes = [state[0]]
    back = came[state]
    while back is not None:
        nodes.append(back[0])
        back = came[back]
    nodes.reverse()
    if len(set(nodes)) != len(nodes):
        return None  # a walk that passes a transaction twice is two cycles, not one
    return tuple(_step(graph, a, b) for a, b in pairwise(nodes))


def _step(graph: Graph, src: int, dst: int) -> Step:
    kind, because = graph.weakest(src, dst)
    return Step(src, kind, because, dst)
