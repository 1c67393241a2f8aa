"""The scenario an exploration starts from: its cluster, workload and checks kept, its
faults replaced by a generated schedule, and the result written as an ordinary scenario.

A schedule becomes a scenario as text, and the text goes through the ordinary loader: what
runs is exactly what ``minimal.yaml`` will hold, validated by the rules every scenario
file is held to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from pytest_dchaos.errors import DchaosError, ScenarioError
from pytest_dchaos.explore.schedule import seconds_text
from pytest_dchaos.explore.shrink import Trim
from pytest_dchaos.scenario.loader import Catalog, load_scenario, parse_scenario
from pytest_dchaos.scenario.model import Implementation, Scenario


@dataclass(frozen=True)
class BaseScenario:
    """A validated scenario file and its YAML sections, ready to take other faults."""

    path: str
    scenario: Scenario
    sections: Mapping[str, Any]
    catalog: Catalog
    #: Checks of the file left out: bounds on speed or cost
    #: (:attr:`~pytest_dchaos.checkers.base.CheckerType.performance`), which faults the
    #: file did not plan may rightly break.
    left_out: tuple[str, ...] = ()
    #: Speed bounds left out of checks that are kept (``convergence: within 3s``), for the
    #: same reason (:attr:`~pytest_dchaos.checkers.base.CheckerType.performance_options`).
    relaxed: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | os.PathLike[str], catalog: Catalog,
             node_command: tuple[str, ...] | None = None) -> BaseScenario:
        """Load and validate ``path``; with ``node_command``, every node runs that
        instead of the scenario's implementation (and the written scenarios say so)."""
        path = os.fspath(path)
        scenario = load_scenario(path, catalog)
        if node_command:
            scenario = scenario.with_implementation(Implementation(command=node_command))
        with open(path, encoding="utf-8") as handle:
            sections = yaml.safe_load(handle)
        # Every check of a loaded scenario is one the catalogue knows.
        left_out = tuple(c.name for c in scenario.checks
                         if (decl := catalog.checker(c.name)) is not None and decl.performance)
        if left_out:
            kept = [c for c in scenario.checks if c.name not in left_out]
            # Entries are names or {name: options}; the protocol's default checks (no
            # `checks:` at all) are written out by name.
            entries = sections.get("checks") or [c.name for c in scenario.checks]
            sections = {**sections, "checks": [e for e in entries
                                               if _check_name(e) not in left_out]}
            scenario = replace(scenario, checks=tuple(kept))
        sections, scenario, relaxed = _without_speed_bounds(sections, scenario, catalog)
        return cls(path, scenario, sections, catalog, left_out, relaxed)

    def check_explorable(self) -> None:
        """Refuse a scenario whose runs could not tell a failure: one line, exit 2."""
        if not self.scenario.checks and self.left_out:
            raise ScenarioError(
                f"has only performance checks ({', '.join(self.left_out)}), which explore "
                "leaves out: faults it was not written for may rightly break them",
                path=self.path, field="checks",
                hint="add a correctness check (the catalogue lists them: dchaos catalogue)")
        if not self.scenario.checks:
            raise ScenarioError("has no checks, so no run of it can fail: add a 'checks:' "
                                "list (or drop it for the protocol's default checks)",
                                path=self.path, field="checks")
        expecting = [c.name for c in self.scenario.checks if c.expect == "fail"]
        if expecting:
            raise ScenarioError(
                f"expects a violation ({', '.join(expecting)}: expect: fail), so a failure "
                "found by exploring it would be its own demonstration",
                path=self.path, field="checks", hint="explore a scenario whose checks must pass")
        if self.scenario.workload.duration <= 0.1:
            raise ScenarioError("the workload is too short to inject faults into",
                                path=self.path, field="workload.duration")

    def text(self, faults: Sequence[Mapping[str, Any]], seed: int, *, name: str | None = None,
             description: str | None = None, trim: Trim | None = None,
             twins: Sequence[Mapping[str, Any]] = ()) -> str:
        """The scenario with ``faults`` instead of its own, as YAML: the node
        implementation made explicit (absolute paths), the seed fixed; with ``trim``, the
        workload's length and clients and the cluster's size as it says; with ``twins``
        (``cluster.twins`` entries a schedule drew), those twins in the cluster section,
        where any scenario has them, after the file's own."""
        sections = {k: v for k, v in self.sections.items() if k != "faults"}
        if name is not None:
            sections["name"] = name
        if description is not None:
            sections["description"] = description
        cluster = dict(sections["cluster"])
        cluster["implementation"] = _implementation(self.scenario.cluster.implementation)
        if trim is not None:
            cluster["nodes"] = trim.nodes
            workload = dict(sections.get("workload") or {})
            workload["duration"] = seconds_text(trim.duration)
            workload["clients"] = trim.clients
            sections["workload"] = workload
        if twins:
            cluster["twins"] = [*(cluster.get("twins") or []), *(dict(t) for t in twins)]
        sections["cluster"] = cluster
        sections["seed"] = seed
        order = ["name", "description", "protocol", "cluster", "network", "workload",
                 "checks", "seed"]
        head = {k: sections[k] for k in order if k in sections}
        body = yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=100)
        if faults:
            lines = [f"  - {_flow(entry)}" for entry in faults]
            body += "faults:\n" + "\n".join(lines) + "\n"
        return body

    @property
    def generated_where(self) -> str:
        """The name errors and reports give a scenario made from a generated schedule."""
        return f"{self.path} (generated schedule)"

    def scenario_with(self, faults: Sequence[Mapping[str, Any]], seed: int,
                      path: str | None = None, trim: Trim | None = None,
                      twins: Sequence[Mapping[str, Any]] = ()) -> Scenario:
        """The scenario with ``faults`` (and ``twins``, see :meth:`text`), validated by the
        ordinary loader. A trimmed one the loader refuses raises its
        :class:`ScenarioError` (a candidate too small to be a scenario: the caller moves
        on)."""
        where = path or self.generated_where
        try:
            return parse_scenario(self.text(faults, seed, trim=trim, twins=twins), where,
                                  self.catalog)
        except ScenarioError as exc:
            if trim is not None:
                raise
            # A generated schedule the loader refuses is a bug of the generator.
            raise DchaosError(f"dchaos explore made a schedule the scenario loader refuses "
                              f"(a bug in dchaos): {exc}") from exc


def _without_speed_bounds(sections: Mapping[str, Any], scenario: Scenario, catalog: Catalog
                          ) -> tuple[Mapping[str, Any], Scenario, tuple[str, ...]]:
    """The kept checks without the options that bound their speed (set to their defaults,
    and taken out of the ``checks:`` entries the written scenarios carry)."""
    entries = list(sections.get("checks") or [c.name for c in scenario.checks])
    specs = list(scenario.checks)
    relaxed: list[str] = []
    for i, spec in enumerate(specs):
        decl = catalog.checker(spec.name)
        bounds = getattr(decl, "performance_options", ()) if decl is not None else ()
        entry = entries[i]
        if not bounds or not isinstance(entry, Mapping):
            continue
        options = entry[spec.name]
        if isinstance(options, Mapping):
            dropped = {k: v for k, v in options.items() if k in bounds}
            rest = {k: v for k, v in options.items() if k not in bounds}
        elif options is not None and decl is not None and decl.options.shorthand in bounds:
            dropped, rest = {decl.options.shorthand: options}, {}
        else:
            continue
        if not dropped:
            continue
        assert decl is not None
        entries[i] = {spec.name: rest} if rest else spec.name
        defaults = {k: decl.options.by_name[k].default for k in dropped}
        specs[i] = replace(spec, options=replace(spec.options, **defaults))
        relaxed += [f"{spec.name}: {k} {v}" for k, v in dropped.items()]
    if not relaxed:
        return sections, scenario, ()
    return ({**sections, "checks": entries}, replace(scenario, checks=tuple(specs)),
            tuple(relaxed))


def _check_name(entry: Any) -> str:
    return str(next(iter(entry))) if isinstance(entry, Mapping) else str(entry)


def _implementation(impl: Implementation) -> Any:
    if impl.is_reference:
        return "reference"
    out: dict[str, Any] = {}
    if impl.command:
        out["command"] = list(impl.command)
    if impl.image:
        out["image"] = impl.image
    return out


def _flow(entry: Mapping[str, Any]) -> str:
    text: str = yaml.safe_dump(dict(entry), default_flow_style=True, sort_keys=False,
                               width=10_000)
    return text.strip()


__all__ = ["BaseScenario"]
