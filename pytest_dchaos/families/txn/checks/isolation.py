"""The ``isolation`` check: Elle-style anomalies over the committed transactions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.txn.checks.common import Call, Facts, facts, no_state
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class IsolationOptions:
    #: Anomaly names: G0, G1a, G1b, G1c, lost-update, G2.
    allow: tuple[str, ...]


class Isolation(CheckerType[IsolationOptions]):
    name = "isolation"
    doc = ("Isolation anomalies in the spirit of Elle, over the committed transactions and "
           "each key's version order: G0 (write cycle, dirty write), G1a (aborted read), "
           "G1b (intermediate read), G1c (cycle of writes and reads), lost update, and G2 "
           "(a cycle through anti-dependencies: not serializable). Strict two-phase locking "
           "allows none.")
    protocols = ("txn",)
    evidence = "both"
    requires = frozenset({"dchaos_state"})
    options = s.Struct((s.Field("allow", s.ListOf(s.Str(
        ("G0", "G1a", "G1b", "G1c", "lost-update", "G2"))),
        "anomalies this scenario tolerates (reported, not failed)", ()),))
    options_type = IsolationOptions

    def check(self, options: IsolationOptions, record: RunRecord) -> Verdict:
        if (refused := no_state(self, record)) is not None:
            return refused
        f = facts(record)
        found = anomalies(f)
        allowed = set(options.allow)
        figures = {name: len(items) for name, items in found.items()}
        bad = {n: items for n, items in found.items() if items and n not in allowed}
        committed = sum(1 for c in f.calls if f.committed(c))
        if bad:
            parts = [f"{name}: {len(items)} ({items[0]})" for name, items in bad.items()]
            return self.verdict(False, "; ".join(parts),
                                witness={n: items[:20] for n, items in bad.items()},
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

    # Until this check orders versions from the history itself, it takes a key's order from
    # the first node that lists it.
    orders = {k: next(iter(by_node.values()), []) for k, by_node in f.versions.items()}
    for key, versions in orders.items():
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
            versions = orders.get(key, [])
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
