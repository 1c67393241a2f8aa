"""Scenario files → :class:`Scenario`, with errors that name file, line, field and fix.

The loader knows the fixed top-level sections. What a fault or a check accepts is declared
by the plugin that provides it (through the :class:`Catalog` it is handed), so a third-party
fault is validated exactly like a built-in one.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import (
    PROTOCOL_NAMES,
    CheckSpec,
    ClusterSpec,
    FaultSpec,
    Implementation,
    LinkLatency,
    NetworkSpec,
    Placement,
    Scenario,
    Twin,
    WorkloadSpec,
    frozen_mapping,
    node_ids,
)
from pytest_dchaos.scenario.placement import parse_constraint
from pytest_dchaos.scenario.yamlsource import (
    MAX_BYTES,
    YNode,
    check_size,
    load_yaml,
)

TOP_LEVEL = (
    "name", "description", "protocol", "cluster", "network", "workload", "faults", "checks",
    "seed",
)
#: What each top-level section is for, in a few words (the JSON Schema's descriptions).
SECTION_DOCS = {
    "name": "names the test item and the report folder",
    "description": "what the scenario shows, for people",
    "protocol": "the protocol family the nodes implement",
    "cluster": "how many nodes, which implementation, and what they are told at init",
    "network": "the network's steady state: latency and jitter, with per-link overrides",
    "workload": "the clients: how many, how fast, for how long; faults run during it",
    "faults": "faults and when they happen: each entry holds one fault and its timing",
    "checks": "the checks that judge the run (without this section, the protocol's "
              "default checks)",
    "seed": "fixes the fault schedule, the clients' choices and the message-fault dice "
            "(--seed overrides it)",
}
MAX_NODES = 200


class OptionDecl(Protocol):
    """A fault or checker as the loader sees it: a name, an option schema and a builder."""

    name: ClassVar[str]
    doc: ClassVar[str]
    options: ClassVar[s.Struct]

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> Any:
        """Turn validated option values into the typed options object; may raise
        ``node.error(...)`` for rules that span several fields."""
        ...


class FaultDecl(OptionDecl, Protocol):
    #: False for faults that cannot be undone, which therefore take no ``duration``.
    revertible: ClassVar[bool]


class CheckerDecl(OptionDecl, Protocol):
    #: The protocol families this check applies to; ``None`` for every family.
    protocols: ClassVar[tuple[str, ...] | None]
    #: A bound on speed or cost, which ``dchaos explore`` leaves out.
    performance: ClassVar[bool]
    #: Options that bound the check's speed, which ``dchaos explore`` leaves out.
    performance_options: ClassVar[tuple[str, ...]]


class ProtocolDecl(Protocol):
    name: ClassVar[str]
    doc: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]]
    workload_options: ClassVar[tuple[s.Field, ...]]
    topologies: ClassVar[tuple[str, ...]]
    default_checks: ClassVar[tuple[str, ...]]
    twins: ClassVar[bool]
    leader_role: ClassVar[str]


class Catalog(Protocol):
    """What the loader needs from the plugin registry."""

    def protocol(self, name: str) -> ProtocolDecl | None: ...
    def protocol_names(self) -> Sequence[str]: ...
    def fault(self, name: str) -> FaultDecl | None: ...
    def fault_names(self) -> Sequence[str]: ...
    def checker(self, name: str) -> CheckerDecl | None: ...
    def checker_names(self) -> Sequence[str]: ...


def load_scenario(path: str | os.PathLike[str], catalog: Catalog) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = os.fspath(path)
    try:
        check_size(os.stat(path).st_size, path)
        with open(path, encoding="utf-8") as handle:
            # Read no more than the cap, even where the size said nothing (a pipe); what
            # is read is then checked by bytes, in load_yaml.
            text = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(
            "no such scenario file", path=path, hint="check the path and the working folder"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the scenario file: {exc}", path=path) from None
    return parse_scenario(text, path, catalog)


def parse_scenario(text: str, path: str, catalog: Catalog) -> Scenario:
    """Validate scenario ``text`` (read from ``path``, which errors name)."""
    root = load_yaml(text, path)
    if not root.is_mapping:
        raise root.error(
            "a scenario is a mapping of sections",
            hint="start with 'name:', 'protocol:' and 'cluster:'; "
                 f"sections: {', '.join(TOP_LEVEL)}",
        )
    s.check_keys(root, TOP_LEVEL, "")
    sections = root.value
    for required in ("name", "protocol", "cluster"):
        if required not in sections:
            raise root.error(f"missing required section {required!r}", line=1)

    name = s.Str().parse(sections["name"], "name", s.ParseContext())
    description = ""
    if "description" in sections:
        description = s.Str().parse(sections["description"], "description", s.ParseContext())
    protocol = _protocol(sections["protocol"], catalog)
    cluster = _cluster(sections["cluster"], protocol, path)
    ctx = s.ParseContext(nodes=cluster.node_ids, leader_role=protocol.leader_role)
    network = _network(sections["network"], ctx) if "network" in sections else NetworkSpec()
    workload = _workload(sections.get("workload"), protocol, ctx)
    faults = _faults(sections["faults"], catalog, ctx) if "faults" in sections else ()
    checks = _checks(sections.get("checks"), root, protocol, catalog, ctx)
    seed = None
    if "seed" in sections:
        seed = s.Int(min=0).parse(sections["seed"], "seed", ctx)
    _check_timeline(faults, workload, path)
    return Scenario(
        name=name,
        description=description,
        protocol=protocol.name,
        cluster=cluster,
        network=network,
        workload=workload,
        faults=faults,
        checks=checks,
        seed=seed,
        path=path,
        source=text,
    )


def _protocol(node: YNode, catalog: Catalog) -> ProtocolDecl:
    name = s.Str().parse(node, "protocol", s.ParseContext())
    decl = catalog.protocol(name)
    if decl is None:
        known = list(catalog.protocol_names())
        if name in PROTOCOL_NAMES:
            raise node.error(
                f"protocol {name!r} is not installed in this version of pytest-dchaos",
                field="protocol", hint=f"installed: {', '.join(known) or 'none'}",
            )
        raise node.error(
            f"unknown protocol {name!r}", field="protocol",
            hint=s.suggest(name, known) or f"installed: {', '.join(known) or 'none'}",
        )
    return decl


def _as_written(node: YNode, field: str, ctx: s.ParseContext) -> Any:
    """Values their section's own code reads (they need the file's path or the protocol)."""
    return node.plain()


def _command_schema(ctx: s.ParseContext) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "pattern": r"\S"},
                      {"type": "array", "minItems": 1,
                       "items": {"type": ["string", "number"]}}]}


def _implementation_schema(ctx: s.ParseContext) -> dict[str, Any]:
    return {"anyOf": [
        {"const": "reference"},
        {"type": "object", "minProperties": 1, "additionalProperties": False,
         "properties": {
             "command": {**_command_schema(ctx),
                         "description": "your node: a command line, or a list of words; "
                                        "relative paths from the scenario's folder"},
             "image": {"type": "string",
                       "description": "the docker backend: the image to run the node in"},
         }},
    ]}


_TWIN_FIELDS = (
    s.Field("node", s.NodeRef(()), "the node that gets a twin"),
    s.Field("sees", s.ListOf(s.NodeRef(()), scalar_ok=True, min_items=1),
            "the nodes the twin talks to (the original stops talking to them)"),
    s.Field("reorder", s.Duration(),
            "hold back each client message to the twin by a random delay up to this, so "
            "it sees requests in another order than its original (0ms: in the same order)",
            0.0),
)

_PLACEMENT_FIELDS = (
    s.Field("nodes", s.ListOf(s.NodeRef(()), scalar_ok=True, min_items=1),
            "the nodes these constraints place"),
    s.Field("constraints", s.ListOf(s.Str(), scalar_ok=True, min_items=1),
            "Swarm placement constraints, every one met: node.id, node.hostname, node.role, "
            "node.labels.<name> or engine.labels.<name>, == or != a value"),
)

CLUSTER_FIELDS = (
    s.Field("nodes", s.Int(min=1, max=MAX_NODES), "how many nodes (ids n1..nN)"),
    s.Field(
        "implementation",
        s.Custom(_as_written, "reference | {command: ...} | {image: ..., command: ...}",
                 _implementation_schema),
        "'reference', or {command: [...] | 'cmd args'} for your own node, "
        "or {image: ..., command: ...} on the docker backend",
        "reference",
    ),
    s.Field("params", s.MappingOf(), "parameters handed to every node in init.dchaos.params", None),
    s.Field("topology", s.Str(), "the topology sent to nodes (protocol-specific)", None),
    s.Field("start_timeout", s.Duration(), "how long a node may take to answer init", 10.0),
    s.Field("twins",
            s.Custom(_as_written, "list of {node, sees, reorder?}",
                     s.ListOf(s.Struct(_TWIN_FIELDS)).json_schema),
            "Byzantine twins: [{node: n1, sees: [n3, n4]}] starts a "
            "second n1 (same id, same keys) that talks only to n3 and n4, while n1 stops "
            "talking to them; reorder: 50ms has the twin hear client requests in another "
            "order", None),
    s.Field("placement",
            s.Custom(_as_written, "list of {nodes, constraints}",
                     s.ListOf(s.Struct(_PLACEMENT_FIELDS)).json_schema),
            "where nodes run on a swarm of several machines: [{nodes: [n1, n2], "
            "constraints: ['node.labels.zone==a']}] (Docker Swarm's constraints, every one "
            "met; nodes without any are spread over every machine); backends of one "
            "machine ignore it", None),
)


def _cluster(node: YNode, protocol: ProtocolDecl, path: str) -> ClusterSpec:
    if not node.is_mapping:
        raise node.error("expected a mapping like {nodes: 5}", field="cluster")
    values = s.parse_mapping(node, CLUSTER_FIELDS, "cluster", s.ParseContext())
    implementation = _implementation(node.value.get("implementation"), path)
    topology = values["topology"]
    if topology is not None and topology not in protocol.topologies:
        where = node.value["topology"]
        raise where.error(
            f"topology {topology!r} is not known for protocol {protocol.name}",
            field="cluster.topology",
            hint=s.suggest(topology, protocol.topologies)
            or f"allowed: {', '.join(protocol.topologies) or 'none'}",
        )
    return ClusterSpec(
        nodes=values["nodes"],
        implementation=implementation,
        params=frozen_mapping(values["params"]),
        topology=topology,
        start_timeout=values["start_timeout"],
        twins=_twins(node.value.get("twins"), node_ids(values["nodes"]), protocol),
        placement=_placement(node.value.get("placement"), node_ids(values["nodes"])),
    )


def _placement(node: YNode | None, nodes: tuple[str, ...]) -> tuple[Placement, ...]:
    if node is None or node.value is None:
        return ()
    field = "cluster.placement"
    if not node.is_sequence:
        raise node.error("expected a list like [{nodes: [n1, n2], constraints: "
                         "['node.labels.zone==a']}]", field=field)
    ctx = s.ParseContext(nodes)
    placements: list[Placement] = []
    for index, entry in enumerate(node.value):
        where = f"{field}[{index}]"
        if not entry.is_mapping:
            raise entry.error("expected a mapping like {nodes: [n1], constraints: "
                              "['node.hostname==worker-1']}", field=where)
        values = s.parse_mapping(entry, _PLACEMENT_FIELDS, where, ctx)
        written = entry.value["constraints"]
        items = [written] if written.is_scalar else list(written.value)
        for item, text in zip(items, values["constraints"], strict=True):
            try:
                parse_constraint(text)
            except ValueError as exc:
                raise item.error(str(exc), field=f"{where}.constraints") from None
        placements.append(Placement(tuple(dict.fromkeys(values["nodes"])),
                                    tuple(values["constraints"])))
    return tuple(placements)


def _twins(node: YNode | None, nodes: tuple[str, ...], protocol: ProtocolDecl
           ) -> tuple[Twin, ...]:
    if node is None or node.value is None:
        return ()
    field = "cluster.twins"
    if not protocol.twins:
        raise node.error(f"protocol {protocol.name} does not take twins", field=field,
                         hint="twins make a node Byzantine: they are for Byzantine-fault-"
                              "tolerant protocols such as pbft")
    if not node.is_sequence:
        raise node.error("expected a list like [{node: n1, sees: [n3, n4]}]", field=field)
    twins: list[Twin] = []
    ctx = s.ParseContext(nodes)
    for index, entry in enumerate(node.value):
        where = f"{field}[{index}]"
        if not entry.is_mapping:
            raise entry.error("expected a mapping like {node: n1, sees: [n3, n4]}", field=where)
        values = s.parse_mapping(entry, _TWIN_FIELDS, where, ctx)
        twin = Twin(values["node"], tuple(dict.fromkeys(values["sees"])), values["reorder"])
        if twin.node in twin.sees:
            raise entry.error(f"{twin.node} cannot see itself", field=f"{where}.sees")
        if any(t.node == twin.node for t in twins):
            raise entry.error(f"{twin.node} already has a twin", field=f"{where}.node")
        twins.append(twin)
    return tuple(twins)


def _implementation(node: YNode | None, path: str) -> Implementation:
    if node is None or node.value == "reference":
        return Implementation()
    field = "cluster.implementation"
    if isinstance(node.value, str):
        raise node.error(
            f"{node.value!r} is not an implementation", field=field,
            hint="write 'reference', or {command: ./my-node} for your own node",
        )
    if not node.is_mapping:
        raise node.error("expected 'reference' or a mapping with command/image", field=field)
    s.check_keys(node, ("command", "image"), field)
    image = None
    if "image" in node.value:
        image = s.Str().parse(node.value["image"], f"{field}.image", s.ParseContext())
    command = None
    if "command" in node.value:
        # In an image, paths are the image's own: nothing to resolve on this machine.
        command = parse_command(node.value["command"], f"{field}.command",
                                base=None if image else path)
    if command is None and image is None:
        raise node.error("needs command or image", field=field)
    return Implementation(command=command, image=image)


def parse_command(node: YNode, field: str, *, base: str | None) -> tuple[str, ...]:
    """A command as a list of words or one shell-like string, resolved by
    :func:`resolve_command` against the scenario file's folder."""
    if isinstance(node.value, str):
        try:
            words = shlex.split(node.value)
        except ValueError as exc:
            raise node.error(f"cannot split the command: {exc}", field=field) from None
    elif node.is_sequence and all(isinstance(c.value, str | int | float) for c in node.value):
        words = [str(c.value) for c in node.value]
    else:
        raise node.error("expected a command: a string or a list of words", field=field)
    if not words:
        raise node.error("the command is empty", field=field)
    return resolve_command(words, os.path.dirname(os.path.abspath(base)) if base else None)


def resolve_command(words: Sequence[str], folder: str | None) -> tuple[str, ...]:
    """Make relative paths in a node command absolute, from ``folder``.

    Every node runs in its own folder (so that nodes writing files do not collide), so a
    relative path would point into that folder. The program is resolved when it has a
    slash in it (``./node``); any other word when it names a file or folder that exists
    relative to ``folder`` (``python3 my_node.py``).
    """
    if folder is None:
        return tuple(words)
    resolved = []
    for index, word in enumerate(words):
        candidate = os.path.normpath(os.path.join(folder, word))
        is_program_path = index == 0 and "/" in word
        if not os.path.isabs(word) and (is_program_path or (
                index > 0 and not word.startswith("-") and os.path.exists(candidate))):
            word = candidate
        resolved.append(word)
    return tuple(resolved)


def _links(node: YNode, field: str, ctx: s.ParseContext) -> frozenset[tuple[str, str]]:
    """``all``, a list of ``n1->n2`` / ``n1<->n2``, or ``{from: [...], to: [...]}``."""
    nodes = ctx.nodes
    everything = frozenset((a, b) for a in nodes for b in nodes if a != b)
    if node.value == "all":
        return everything
    ref = s.NodeRef(selectors=())
    if node.is_mapping:
        s.check_keys(node, ("from", "to"), field)
        srcs = s.ListOf(ref, scalar_ok=True).parse(node.value["from"], f"{field}.from", ctx) \
            if "from" in node.value else nodes
        dsts = s.ListOf(ref, scalar_ok=True).parse(node.value["to"], f"{field}.to", ctx) \
            if "to" in node.value else nodes
        return frozenset((a, b) for a in srcs for b in dsts if a != b)
    items = node.value if node.is_sequence else [node]
    links: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        where = f"{field}[{i}]" if node.is_sequence else field
        text = item.value
        both = isinstance(text, str) and "<->" in text
        parts = text.split("<->" if both else "->") if isinstance(text, str) else []
        if len(parts) != 2:
            raise item.error(
                f"expected a link like n1->n2 or n1<->n2, got {text!r}", field=where,
                hint="or write 'all', or {from: [n1], to: [n2, n3]}",
            )
        a, b = (p.strip() for p in parts)
        for end in (a, b):
            ref.parse(YNode(end, item.line, item.column, item.path), where, ctx)
        if a == b:
            raise item.error("a link joins two different nodes", field=where)
        links.add((a, b))
        if both:
            links.add((b, a))
    return frozenset(links)


def _links_schema(ctx: s.ParseContext) -> dict[str, Any]:
    ends = s.ListOf(s.NodeRef(selectors=()), scalar_ok=True).json_schema(ctx)
    link = {"type": "string", "pattern": LINK_PATTERN}
    return {"anyOf": [
        {"const": "all"},
        link,
        {"type": "array", "items": link},
        {"type": "object", "additionalProperties": False,
         "properties": {"from": {**ends, "description": "senders (default: every node)"},
                        "to": {**ends, "description": "receivers (default: every node)"}}},
    ]}


#: A link as written: ``n1->n2`` (one direction) or ``n1<->n2`` (both).
LINK_PATTERN = r"^\s*n[1-9][0-9]*\s*(->|<->)\s*n[1-9][0-9]*\s*$"
LINKS = s.Custom(_links, "links: all | [n1->n2, n2<->n3] | {from: [..], to: [..]}",
                 _links_schema)

LINK_LATENCY_FIELDS = (
    s.Field("links", LINKS, "which directed links"),
    s.Field("latency", s.Duration(), "one-way latency on those links"),
    s.Field("jitter", s.Duration(), "uniform ± jitter", 0.0),
)
NETWORK_FIELDS = (
    s.Field("latency", s.Duration(), "one-way latency of every node-to-node message", 0.0),
    s.Field("jitter", s.Duration(), "uniform ± jitter added to the latency", 0.0),
    s.Field("links", s.ListOf(s.Struct(LINK_LATENCY_FIELDS)),
            "per-link latency: [{links: ..., latency: ..., jitter: ...}]", None),
)


def _network(node: YNode, ctx: s.ParseContext) -> NetworkSpec:
    if node.value is None:
        return NetworkSpec()
    if not node.is_mapping:
        raise node.error("expected a mapping like {latency: 10ms}", field="network")
    values = s.parse_mapping(node, NETWORK_FIELDS, "network", ctx)
    overrides = []
    if values["links"] is not None:
        entries = values["links"]
        overrides = [LinkLatency(e["links"], e["latency"], e["jitter"]) for e in entries]
        for i, (entry, item) in enumerate(zip(entries, node.value["links"].value, strict=True)):
            if entry["jitter"] > entry["latency"]:
                raise item.error("jitter cannot exceed latency (a message cannot arrive "
                                 "before it was sent)", field=f"network.links[{i}].jitter")
    if values["jitter"] > values["latency"]:
        raise node.value["jitter"].error(
            "jitter cannot exceed latency (a message cannot arrive before it was sent)",
            field="network.jitter",
        )
    return NetworkSpec(values["latency"], values["jitter"], tuple(overrides))


WORKLOAD_FIELDS = (
    s.Field("clients", s.Int(min=1, max=1000), "concurrent clients (ids c1..cK)", 1),
    s.Field("rate", s.Rate(), "total operations per second over all clients", 10.0),
    s.Field("duration", s.Duration(), "how long the workload runs", 10.0),
    s.Field("recovery", s.Duration(),
            "after the workload and the final heal: how long the cluster gets to recover "
            "before the final reads must see everything", 10.0),
    s.Field("timeout", s.Duration(), "client request timeout (then the outcome is unknown)", 5.0),
)


def _workload(node: YNode | None, protocol: ProtocolDecl, ctx: s.ParseContext) -> WorkloadSpec:
    fields = WORKLOAD_FIELDS + protocol.workload_options
    if node is None or node.value is None:
        values = {f.name: f.default for f in fields}
    elif not node.is_mapping:
        raise node.error("expected a mapping like {clients: 4, rate: 50/s, duration: 20s}",
                         field="workload")
    else:
        values = s.parse_mapping(node, fields, "workload", ctx)
    options = {f.name: values[f.name] for f in protocol.workload_options}
    return WorkloadSpec(
        clients=values["clients"],
        rate=values["rate"],
        duration=values["duration"],
        recovery=values["recovery"],
        timeout=values["timeout"],
        options=frozen_mapping(options),
    )


def _faults(node: YNode, catalog: Catalog, ctx: s.ParseContext) -> tuple[FaultSpec, ...]:
    if node.value is None:
        return ()
    if not node.is_sequence:
        raise node.error("expected a list of faults, each like {at: 5s, kill: n3}",
                         field="faults")
    return tuple(_fault(entry, f"faults[{i}]", catalog, ctx)
                 for i, entry in enumerate(node.value))


_AT_RANGE = s.Struct((s.Field("between", s.ListOf(s.Duration(), min_items=2),
                              "[earliest, latest]: drawn from the seed"),))


def _at(node: YNode, field: str, ctx: s.ParseContext) -> float | tuple[float, float]:
    if not node.is_mapping:
        return float(s.Duration().parse(node, field, ctx))
    between = _AT_RANGE.parse(node, field, ctx)["between"]
    if len(between) != 2:
        raise node.error("needs exactly two times: [earliest, latest]",
                         field=f"{field}.between")
    low, high = between
    if high < low:
        raise node.error("the range is backwards", field=f"{field}.between")
    return low, high


def _at_schema(ctx: s.ParseContext) -> dict[str, Any]:
    between = _AT_RANGE.json_schema(ctx)
    between["properties"]["between"]["maxItems"] = 2
    return {"anyOf": [s.Duration().json_schema(ctx), between]}


#: The keys of a fault entry that say when, beside its one fault.
TIMING_FIELDS = (
    s.Field("at", s.Custom(_at, "duration | {between: [earliest, latest]}", _at_schema),
            "when the fault starts: a time into the workload, or {between: [2s, 8s]} for "
            "a time drawn from the seed"),
    s.Field("every", s.Duration(), "fire again every so often, until the workload ends "
            "(or times / until)", None),
    s.Field("times", s.Int(min=1), "with every: fire this many times in all", None),
    s.Field("until", s.Duration(), "with every: fire no later than this time", None),
    s.Field("duration", s.Duration(), "revert the fault after this long (without it, it "
            "lasts until a heal or the end of the workload)", None),
)
TIMING_KEYS = tuple(f.name for f in TIMING_FIELDS)


def _fault(node: YNode, where: str, catalog: Catalog, ctx: s.ParseContext) -> FaultSpec:
    if not node.is_mapping:
        raise node.error("expected a mapping like {at: 5s, kill: n3}", field=where)
    kinds = [k for k in node.value if k not in TIMING_KEYS]
    known = list(catalog.fault_names())
    if not kinds:
        raise node.error("names no fault", field=where,
                         hint=f"add one of: {', '.join(known)}, or one_of: [...]")
    if len(kinds) > 1:
        unknown = [k for k in kinds if k != "one_of" and catalog.fault(k) is None]
        if unknown:
            bad = unknown[0]
            raise node.error(f"unknown fault or key {bad!r}", field=f"{where}.{bad}",
                             line=node.key_lines[bad],
                             hint=s.suggest(bad, [*known, *TIMING_KEYS])
                             or f"faults: {', '.join(known)}")
        raise node.error(f"one entry holds one fault, found {', '.join(kinds)}", field=where,
                         hint="split them into separate entries with their own 'at'")
    kind = kinds[0]
    timing = _timing(node, where, ctx)
    if kind == "one_of":
        options_node = node.value["one_of"]
        if not options_node.is_sequence or not options_node.value:
            raise options_node.error("expected a list of faults to choose from",
                                     field=f"{where}.one_of")
        choices = []
        for i, choice in enumerate(options_node.value):
            sub = f"{where}.one_of[{i}]"
            if not choice.is_mapping or len(choice.value) != 1:
                raise choice.error("each choice is one fault, like {kill: random}", field=sub)
            (choice_kind, choice_options), = choice.value.items()
            choices.append((choice_kind, _fault_options(choice_kind, choice_options, choice,
                                                         sub, catalog, ctx)))
        for choice_kind, _ in choices:
            _check_duration(node, where, choice_kind, catalog, timing)
        return FaultSpec(kind="one_of", options=None, line=node.line, choices=tuple(choices),
                         **timing)
    options = _fault_options(kind, node.value[kind], node, where, catalog, ctx)
    _check_duration(node, where, kind, catalog, timing)
    return FaultSpec(kind=kind, options=options, line=node.line, **timing)


def _check_duration(node: YNode, where: str, kind: str, catalog: Catalog,
                    timing: dict[str, Any]) -> None:
    decl = catalog.fault(kind)
    if "duration" in timing and decl is not None and not decl.revertible:
        raise node.value["duration"].error(
            f"a {kind} cannot be undone, so it takes no duration",
            field=f"{where}.duration", hint="remove 'duration' from this entry")


def _fault_options(kind: str, value: YNode, owner: YNode, where: str, catalog: Catalog,
                   ctx: s.ParseContext) -> Any:
    decl = catalog.fault(kind)
    if decl is None:
        known = list(catalog.fault_names())
        raise owner.error(
            f"unknown fault {kind!r}", field=f"{where}.{kind}",
            line=owner.key_lines.get(kind),
            hint=s.suggest(kind, [*known, *TIMING_KEYS]) or f"faults: {', '.join(known)}",
        )
    values = decl.options.parse(value, f"{where}.{kind}", ctx)
    with _located(where, kind):
        return decl.build(values, value, ctx)


@contextmanager
def _located(where: str, name: str) -> Iterator[None]:
    """Errors raised by a plugin's ``build`` name fields relative to the plugin's key
    (``partition.groups``): put the entry in front (``faults[1].partition.groups``)."""
    try:
        yield
    except ScenarioError as exc:
        field = exc.field or name
        if not field.startswith(where):
            exc.field = f"{where}.{field}" if field.startswith(name) else f"{where}.{name}"
        raise


def _timing(node: YNode, where: str, ctx: s.ParseContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "at" not in node.value:
        raise node.error("needs 'at': when the fault starts", field=where,
                         hint="at: 5s, or at: {between: [2s, 8s]} for a seeded random time")
    for timing in TIMING_FIELDS:
        if timing.name in node.value:
            values[timing.name] = timing.kind.parse(node.value[timing.name],
                                                    f"{where}.{timing.name}", ctx)
    if values.get("every") is not None and values["every"] <= 0:
        raise node.value["every"].error("must be above zero", field=f"{where}.every")
    if ("times" in values or "until" in values) and "every" not in values:
        key = "times" if "times" in values else "until"
        raise node.value[key].error(f"'{key}' needs 'every'", field=f"{where}.{key}",
                                    hint="add every: 5s to repeat the fault")
    if "duration" in values and "every" in values and values["duration"] >= values["every"]:
        raise node.value["duration"].error(
            "a repeating fault must end before it fires again", field=f"{where}.duration",
            hint=f"make duration shorter than every ({values['every']}s)",
        )
    return values


def _checks(node: YNode | None, root: YNode, protocol: ProtocolDecl, catalog: Catalog,
            ctx: s.ParseContext) -> tuple[CheckSpec, ...]:
    if node is None:
        entries: list[tuple[str, YNode, YNode]] = [
            (name, YNode(None, root.line, 1, root.path), root)
            for name in protocol.default_checks
        ]
    elif not node.is_sequence:
        raise node.error("expected a list of checks, like [convergence, {latency: {p99: 1s}}]",
                         field="checks")
    else:
        entries = []
        for i, entry in enumerate(node.value):
            if isinstance(entry.value, str):
                entries.append((entry.value, YNode(None, entry.line, entry.column, entry.path),
                                entry))
            elif entry.is_mapping and len(entry.value) == 1:
                (name, options), = entry.value.items()
                entries.append((name, options, entry))
            else:
                raise entry.error("expected a check name, or {name: {options}}",
                                  field=f"checks[{i}]")
    checks = []
    seen: set[str] = set()
    for i, (name, options, owner) in enumerate(entries):
        where = f"checks[{i}]"
        decl = catalog.checker(name)
        if decl is None:
            known = [n for n in catalog.checker_names()
                     if _applies(catalog.checker(n), protocol.name)]
            raise owner.error(f"unknown check {name!r}", field=where,
                              hint=s.suggest(name, known)
                              or f"checks for {protocol.name}: {', '.join(known)}")
        if not _applies(decl, protocol.name):
            raise owner.error(
                f"check {name!r} does not apply to protocol {protocol.name}", field=where,
                hint=f"it is for: {', '.join(decl.protocols or ())}",
            )
        if name in seen:
            raise owner.error(f"check {name!r} is listed twice", field=where)
        seen.add(name)
        options, expect = _expectation(options, f"{where}.{name}")
        options, required = _requirement(options, f"{where}.{name}")
        values = decl.options.parse(options, f"{where}.{name}", ctx)
        with _located(where, name):
            checks.append(CheckSpec(name, decl.build(values, options, ctx), owner.line,
                                    expect, required))
    return tuple(checks)


#: The options every check takes beside its own (read by :func:`_expectation` and
#: :func:`_requirement` before the check's options are).
CHECK_FIELDS = (
    s.Field("expect", s.Str(("pass", "fail")), "fail: the scenario demonstrates a known "
            "violation, and passes only if this check catches it", "pass"),
    s.Field("required", s.Bool(), "fail the check when the nodes offer nothing it can judge "
            "from, instead of leaving it not applicable", False),
)


def _expectation(options: YNode, where: str) -> tuple[YNode, str]:
    """Take the ``expect: pass | fail`` every check accepts out of its options."""
    if not options.is_mapping or "expect" not in options.value:
        return options, "pass"
    rest = {k: v for k, v in options.value.items() if k != "expect"}
    expect = options.value["expect"]
    if expect.value not in ("pass", "fail"):
        raise expect.error(f"expected pass or fail, got {expect.value!r}",
                           field=f"{where}.expect",
                           hint="expect: fail makes a scenario that demonstrates a known "
                                "violation pass only if the check catches it")
    return YNode(rest, options.line, options.column, options.path), str(expect.value)


def _requirement(options: YNode, where: str) -> tuple[YNode, bool]:
    """Take the ``required: true | false`` every check accepts out of its options."""
    if not options.is_mapping or "required" not in options.value:
        return options, False
    rest = {k: v for k, v in options.value.items() if k != "required"}
    required = options.value["required"]
    if not isinstance(required.value, bool):
        raise required.error(f"expected true or false, got {required.value!r}",
                             field=f"{where}.required",
                             hint="required: true fails the check when the nodes offer "
                                  "nothing it can judge from, instead of leaving it not "
                                  "applicable")
    return YNode(rest, options.line, options.column, options.path), required.value


def _applies(decl: CheckerDecl | None, protocol: str) -> bool:
    return decl is not None and (decl.protocols is None or protocol in decl.protocols)


def _check_timeline(faults: tuple[FaultSpec, ...], workload: WorkloadSpec, path: str) -> None:
    """Faults scheduled after the workload ends would silently never fire: say so."""
    for index, fault in enumerate(faults):
        start = fault.at[0] if isinstance(fault.at, tuple) else fault.at
        if start >= workload.duration:
            raise ScenarioError(
                f"fault starts at {start:g}s, but the workload lasts {workload.duration:g}s "
                "and faults only run during it",
                path=path, line=fault.line, field=f"faults[{index}].at",
                hint="move 'at' earlier or lengthen workload.duration",
            )


__all__ = ["Catalog", "load_scenario", "parse_command", "parse_scenario"]
