"""The validated scenario: frozen, typed, and free of raw YAML.

Everything downstream of the loader (runner, backends, faults, checkers) reads these classes
and never a dict from the file. Durations are seconds, rates are per second. Fault and check
``options`` are the typed objects their plugins built from the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

PROTOCOL_NAMES = ("gossip", "pbft", "vector_clock", "txn")


def node_ids(count: int) -> tuple[str, ...]:
    """The node ids of a cluster of ``count`` nodes: ``n1..nN`` (the node contract)."""
    return tuple(f"n{i}" for i in range(1, count + 1))


def frozen_mapping(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only view of a copy of ``data``, for fields of frozen dataclasses."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Implementation:
    """What runs as a node: the protocol's reference node, or a user's command or image."""

    command: tuple[str, ...] | None = None
    image: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.command is None and self.image is None

    def describe(self) -> str:
        if self.is_reference:
            return "reference"
        parts = []
        if self.image:
            parts.append(f"image {self.image}")
        if self.command:
            parts.append(" ".join(self.command))
        return ", ".join(parts)


@dataclass(frozen=True)
class Placement:
    """Where ``nodes`` may run on a backend of several machines: Docker Swarm placement
    constraints (``node.labels.zone==a``), every one of which their machine meets (see
    :mod:`pytest_dchaos.scenario.placement`)."""

    nodes: tuple[str, ...]
    constraints: tuple[str, ...]


@dataclass(frozen=True)
class Twin:
    """A second process with the identity (and keys) of ``node``, talking only to the
    nodes in ``sees``; the original stops talking to them. One Byzantine node, made of two
    honest copies: Byzantine testing that needs nothing from the implementation.

    ``reorder`` (seconds) holds back each client message to the twin by a random delay up
    to it, so the twin sees requests in another order than its original: a twin primary
    then orders them differently on each side. Without it both copies hear clients alike
    and tell nearly the same story."""

    node: str
    sees: tuple[str, ...]
    reorder: float = 0.0

    @property
    def member(self) -> str:
        """The twin's own name in the harness (its folder, its agent)."""
        return f"{self.node}-twin"


@dataclass(frozen=True)
class ClusterSpec:
    nodes: int
    implementation: Implementation = field(default_factory=Implementation)
    params: Mapping[str, Any] = field(default_factory=frozen_mapping)
    topology: str | None = None
    start_timeout: float = 10.0
    twins: tuple[Twin, ...] = ()
    placement: tuple[Placement, ...] = ()

    @property
    def node_ids(self) -> tuple[str, ...]:
        return node_ids(self.nodes)

    @property
    def members(self) -> tuple[str, ...]:
        """Every process of the cluster: the nodes, then the twins."""
        return self.node_ids + tuple(t.member for t in self.twins)

    def identity(self, member: str) -> str:
        """The node id a member speaks as (a twin: its original's)."""
        return next((t.node for t in self.twins if t.member == member), member)

    def constraints(self) -> dict[str, tuple[str, ...]]:
        """Each member's placement constraints, where it has any (a twin: its original's)."""
        out: dict[str, tuple[str, ...]] = {}
        for member in self.members:
            node = self.identity(member)
            found = tuple(c for p in self.placement if node in p.nodes for c in p.constraints)
            if found:
                out[member] = tuple(dict.fromkeys(found))
        return out

    def client_holdback(self, member: str) -> float:
        """The longest a client message to ``member`` is held back (a reordering twin's
        ``reorder``; 0 for everyone else)."""
        return next((t.reorder for t in self.twins if t.member == member), 0.0)

    def peers(self, member: str) -> dict[str, str]:
        """Whom a member talks to: node id -> the member that answers to it."""
        twins = {t.node: t for t in self.twins}
        me = self.identity(member)
        out: dict[str, str] = {}
        for other in self.node_ids:
            if other == me:
                continue
            if member in twins and other in twins[member].sees:
                continue  # the original no longer talks to its twin's side
            twin = next((t for t in self.twins if t.member == member), None)
            if twin is not None and other not in twin.sees:
                continue  # a twin talks only to its side
            if other in twins and me in twins[other].sees:
                out[other] = twins[other].member  # my side's copy of ``other``
            else:
                out[other] = other
        return out


@dataclass(frozen=True)
class LinkLatency:
    """Extra latency on some directed links (``links`` of ``(src, dest)`` pairs)."""

    links: frozenset[tuple[str, str]]
    latency: float
    jitter: float = 0.0


@dataclass(frozen=True)
class NetworkSpec:
    """The network's steady state, before any fault: latency on every node-to-node link."""

    latency: float = 0.0
    jitter: float = 0.0
    links: tuple[LinkLatency, ...] = ()


@dataclass(frozen=True)
class WorkloadSpec:
    """Clients and their pace. ``options`` are the protocol family's own workload keys."""

    clients: int = 1
    rate: float = 10.0
    duration: float = 10.0
    recovery: float = 10.0
    timeout: float = 5.0
    options: Mapping[str, Any] = field(default_factory=frozen_mapping)


@dataclass(frozen=True)
class FaultSpec:
    """One entry of ``faults``: what to do (``kind`` + typed ``options``) and when.

    ``at`` is fixed or a ``(low, high)`` range drawn from the seed. With ``every`` the fault
    repeats, ``times`` times or until ``until``. With ``duration`` it is reverted after that
    long. ``choices`` holds the alternatives of a ``one_of`` entry, one drawn per firing.
    """

    kind: str
    options: Any
    line: int
    at: float | tuple[float, float] = 0.0
    duration: float | None = None
    every: float | None = None
    times: int | None = None
    until: float | None = None
    choices: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class CheckSpec:
    """One entry of ``checks``: a checker's name and its typed options."""

    name: str
    options: Any
    line: int
    #: "pass", or "fail" for a scenario that demonstrates a known violation (the run
    #: passes only if the check catches it).
    expect: str = "pass"
    #: The check must be judged: if no node offers what it judges from, it fails instead
    #: of being not applicable.
    required: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    protocol: str
    cluster: ClusterSpec
    network: NetworkSpec = field(default_factory=NetworkSpec)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    faults: tuple[FaultSpec, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    seed: int | None = None
    description: str = ""
    path: str | None = None
    #: The YAML text the scenario was read from (empty when it was built in code): kept for
    #: the report, which shows the scenario as it ran. Not part of what makes two scenarios
    #: equal.
    source: str = field(default="", compare=False, repr=False)

    @property
    def node_ids(self) -> tuple[str, ...]:
        return self.cluster.node_ids

    def with_implementation(self, implementation: Implementation) -> Scenario:
        """The same scenario run against another implementation (``--node-command``)."""
        return replace(self, cluster=replace(self.cluster, implementation=implementation))

    def with_seed(self, seed: int) -> Scenario:
        return replace(self, seed=seed)
