"""Small builders shared by the unit tests: scenarios from YAML text, histories, records."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_dchaos.families.gossip.observations import MembershipSample
from pytest_dchaos.record.history import INVOKE, OK, History, Op
from pytest_dchaos.record.result import FaultEvent, IncidentRecord, RunRecord
from pytest_dchaos.registry import Registry
from pytest_dchaos.scenario import parse_scenario
from pytest_dchaos.scenario.model import ClusterSpec, Scenario, node_ids

_REGISTRY: Registry | None = None


def registry() -> Registry:
    """One registry for the whole unit suite (building it scans entry points)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def scenario(text: str, path: str = "scenario.yaml") -> Scenario:
    """Parse dedented scenario YAML ``text`` as if read from ``path``."""
    return parse_scenario(textwrap.dedent(text), path, registry())


def assert_options_type_matches(decl: Any) -> None:
    """A fault's or check's ``options_type`` is a frozen dataclass with a field per option it
    declares, in the same order: the default ``build`` passes the validated values as
    keywords, so a field missing, extra or misspelt would show only when a scenario used it."""
    options_type = decl.options_type
    assert dataclasses.is_dataclass(options_type)
    assert options_type.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(options_type)] == [
        f.name for f in decl.options.fields]


def op(process: str, type_: str, f: str, value: Any, time: float,
       node: str | None = "n1") -> Op:
    return Op(0, process, type_, f, value, time, node)


def call(process: str, f: str, value: Any, start: float, end: float | None,
         outcome: str = OK, result: Any = None, node: str = "n1") -> list[Op]:
    """An invocation and (unless ``end`` is None) its completion, as two ops."""
    ops = [op(process, INVOKE, f, value, start, node)]
    if end is not None:
        done = value if result is None and f == "broadcast" else result
        ops.append(op(process, outcome, f, done, end, node))
    return ops


def broadcast(value: int, start: float, end: float, outcome: str = OK,
              process: str = "c1", node: str = "n1") -> list[Op]:
    return call(process, "broadcast", value, start, end, outcome, value, node)


def read(values: Sequence[int] | None, start: float, end: float, outcome: str = OK,
         process: str = "c2", node: str = "n2") -> list[Op]:
    return call(process, "read", None, start, end, outcome,
                list(values) if values is not None else None, node)


def txn(process: str, ops: list[list[Any]], start: float, end: float | None,
        outcome: str = OK, node: str = "n1") -> list[Op]:
    """A txn-rw-register transaction: ``ops`` as it completed (the values its reads
    returned); it was asked with every read's value null. A failed or unknown one completes
    with what was asked."""
    asked = [[f, k, None if f == "r" else v] for f, k, v in ops]
    return call(process, "txn", asked, start, end, outcome,
                ops if outcome == OK else asked, node)


def history(*groups: Iterable[Op]) -> History:
    """A history from groups of ops, ordered by time (stable for equal times)."""
    ops = [o for group in groups for o in group]
    ops.sort(key=lambda o: o.time)
    return History.of(ops)


def fault(time: float, action: str, key: str, effect: str, nodes: Sequence[str] = (),
          links: Iterable[tuple[str, str]] = (), kind: str | None = None,
          delay: float = 0.0) -> FaultEvent:
    return FaultEvent(time=time, action=action, key=key, kind=kind or effect,
                      description=f"{effect} {' '.join(nodes)}", nodes=tuple(nodes),
                      effect=effect, links=tuple(sorted(links)), delay=delay)


def isolation_links(node: str, nodes: Sequence[str]) -> set[tuple[str, str]]:
    """Both directions of every link between ``node`` and the others."""
    return {(a, b) for a in nodes for b in nodes if a != b and node in (a, b)}


def record(ops: History | None = None, *, nodes: int = 3,
           faults: Sequence[FaultEvent] = (),
           observations: Mapping[str, Any] | None = None,
           down_at_end: Iterable[str] = (), phases: Mapping[str, float] | None = None,
           messages: Mapping[str, Any] | None = None,
           incidents: Sequence[IncidentRecord] = (),
           trace_files: Sequence[Path] = ()) -> RunRecord:
    ids = node_ids(nodes)
    return RunRecord(
        scenario=Scenario(name="unit", protocol="gossip", cluster=ClusterSpec(nodes)),
        seed=1,
        history=ops if ops is not None else History.of([]),
        faults=list(faults),
        nodes=ids,
        down_at_end=frozenset(down_at_end),
        observations=dict(observations or {}),
        phases=dict(phases or {}),
        messages=dict(messages or {}),
        incidents=list(incidents),
        trace_files=list(trace_files),
    )


def membership_samples(nodes: Sequence[str], start: float, stop: float, step: float,
                       state: Any) -> list[MembershipSample]:
    """Samples every ``step`` from ``start`` to ``stop`` (inclusive) in the gossip monitor's
    format. ``state(t, observer, member)`` gives a state, or None to leave the member out;
    an observer whose every member is left out is left out of the views (it did not answer).
    """
    samples = []
    count = round((stop - start) / step)
    for i in range(count + 1):
        t = round(start + i * step, 6)
        views: dict[str, dict[str, str]] = {}
        for observer in nodes:
            view = {m: s for m in nodes if (s := state(t, observer, m)) is not None}
            if view:
                views[observer] = view
        samples.append(MembershipSample(t, views))
    return samples



def check_options(entry: str) -> Any:
    """The typed options of one check, as the loader builds them from a ``checks:`` entry
    such as ``"convergence: {within: 2s}"`` or ``"no_invented_values"``."""
    text = ("name: unit\nprotocol: gossip\ncluster: {nodes: 3}\n"
            f"checks:\n  - {entry}\n")
    (check,) = scenario(text).checks
    return check.options
