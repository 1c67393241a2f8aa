"""Network faults through the Toxiproxy fault layer: partitions, latency, any toxic."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.cluster.network import Link, partition_links
from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.faults.base import NETWORK, FaultEnv, FaultType, with_leader
from pytest_dchaos.record.result import Effect
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.loader import LINKS
from pytest_dchaos.scenario.yamlsource import YNode

PARTITION_MODES = ("majority_minority", "halves", "bridge")
TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
               "limit_data")

#: Toxics that lose data or connections (the rest only delay).
LOSSY_TOXICS = ("timeout", "reset_peer", "limit_data")

_NODES = s.ListOf(s.NodeRef(("random",)), scalar_ok=True, min_items=1)
#: ``isolate: leader`` cuts off the node leading when the partition starts.
_ISOLATED = s.ListOf(s.NodeRef(), scalar_ok=True, min_items=1)


@dataclass(frozen=True)
class PartitionOptions:
    """Before resolution: one of the forms; after: ``links`` to cut and the ``groups``."""

    mode: str | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    isolate: tuple[str, ...] = ()
    one_way: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    links: frozenset[Link] = frozenset()


class Partition(FaultType[PartitionOptions]):
    name = "partition"
    doc = ("Cut the network between groups of nodes. Forms: {groups: [[n1, n2], [n3]]} "
           "(unlisted nodes form one more group), {isolate: n3}, one-way "
           "{from: [n1], to: [n2, n3]} (only messages from→to are lost), or a mode drawn "
           "from the seed: majority_minority, halves, bridge (two halves joined by one node "
           "that reaches both).")
    scope = NETWORK
    options = s.Struct((
        s.Field("mode", s.Str(PARTITION_MODES), "a partition drawn from the seed", None),
        s.Field("groups", s.ListOf(_NODES, min_items=1), "the sides of the partition", None),
        s.Field("isolate", _ISOLATED, "nodes cut off from everyone (and each other); "
                "leader: the node leading when it starts", None),
        s.Field("from", _NODES, "one-way: senders whose messages are lost ...", None),
        s.Field("to", _NODES, "... on their way to these nodes", None),
    ), shorthand="mode")

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> PartitionOptions:
        forms = [k for k in ("mode", "groups", "isolate") if values[k] is not None]
        one_way = values["from"] is not None or values["to"] is not None
        if one_way:
            forms.append("from/to")
            if values["from"] is None or values["to"] is None:
                raise node.error("a one-way partition needs both 'from' and 'to'",
                                 field="partition")
        if len(forms) != 1:
            raise node.error(
                "write exactly one form of partition" + (f", found {', '.join(forms)}"
                                                         if forms else ""),
                field="partition",
                hint="groups: [[..], [..]] | isolate: n3 | from: [..], to: [..] | "
                     + " | ".join(PARTITION_MODES),
            )
        if values["groups"] is not None:
            seen: set[str] = set()
            for group in values["groups"]:
                for n in group:
                    if n != "random" and n in seen:
                        raise node.error(f"{n} is in two groups", field="partition.groups")
                    seen.add(n)
        return PartitionOptions(
            mode=values["mode"],
            groups=tuple(tuple(g) for g in values["groups"] or ()),
            isolate=tuple(values["isolate"] or ()),
            one_way=(tuple(values["from"]), tuple(values["to"])) if one_way else None,
        )

    def resolve(self, options: PartitionOptions, rng: random.Random,
                nodes: tuple[str, ...]) -> PartitionOptions:
        # `random` draws among the nodes this partition does not name: a drawn node never
        # lands on both sides, nor twice on one.
        named = {n for n in (*options.isolate, *(n for g in options.groups for n in g),
                             *(n for side in options.one_way or () for n in side))
                 if n != "random"}
        taken: set[str] = set(named)

        def concrete(names: tuple[str, ...]) -> tuple[str, ...]:
            out = []
            for name in names:
                if name == "random":
                    pool = [n for n in nodes if n not in taken]
                    if not pool:
                        continue
                    name = rng.choice(pool)
                    taken.add(name)
                out.append(name)
            return tuple(dict.fromkeys(out))

        if options.one_way is not None:
            src, dst = concrete(options.one_way[0]), concrete(options.one_way[1])
            links = frozenset((a, b) for a in src for b in dst if a != b)
            return PartitionOptions(one_way=(src, dst), links=links)
        groups: tuple[tuple[str, ...], ...]
        if "leader" in options.isolate:
            # The links are known only once the leader is (at_fire).
            return PartitionOptions(isolate=concrete(options.isolate))
        if options.isolate:
            groups = tuple((n,) for n in concrete(options.isolate))
        elif options.groups:
            groups = tuple(concrete(g) for g in options.groups)
        else:
            shuffled = list(nodes)
            rng.shuffle(shuffled)
            half = len(shuffled) // 2
            if options.mode == "bridge" and len(nodes) >= 3:
                bridge = shuffled[0]
                left, right = shuffled[1:half + 1], shuffled[half + 1:]
                links = partition_links([left, right], left + right)
                return PartitionOptions(mode="bridge", groups=(tuple(left), (bridge,),
                                                               tuple(right)), links=links)
            # majority_minority and halves: the first half is the minority (n//2 nodes).
            groups = (tuple(shuffled[:half]), tuple(shuffled[half:]))
        return PartitionOptions(mode=options.mode, groups=groups,
                                links=partition_links(groups, nodes))

    effect = "cut"

    def at_fire(self, options: PartitionOptions, env: FaultEnv) -> PartitionOptions:
        if "leader" not in options.isolate:
            return options
        groups = tuple((n,) for n in with_leader(options.isolate, env))
        return PartitionOptions(groups=groups,
                                links=partition_links(groups, env.cluster.plan.identity_ids))

    def nodes(self, options: PartitionOptions) -> tuple[str, ...]:
        return tuple(sorted({n for link in options.links for n in link}))

    def links(self, options: PartitionOptions) -> frozenset[Link]:
        return options.links

    def describe(self, options: PartitionOptions) -> str:
        if options.one_way is not None:
            return (f"one-way partition {','.join(options.one_way[0])} -> "
                    f"{','.join(options.one_way[1])}")
        if not options.groups and options.isolate:
            return f"partition: isolate {' '.join(options.isolate)}"
        sides = " | ".join(" ".join(g) for g in options.groups)
        label = f"partition ({options.mode})" if options.mode else "partition"
        return f"{label} {sides}".strip()

    def start(self, options: PartitionOptions, env: FaultEnv) -> None:
        env.cluster.network.cut(env.key, options.links)

    def stop(self, options: PartitionOptions, env: FaultEnv) -> None:
        env.cluster.network.revert(env.key)


@dataclass(frozen=True)
class LatencyOptions:
    latency: float
    jitter: float
    links: frozenset[Link]


class Latency(FaultType[LatencyOptions]):
    name = "latency"
    doc = ("Add latency (± jitter) to messages on some links, on top of the network's "
           "baseline. `latency: 200ms` slows every link.")
    scope = NETWORK
    options = s.Struct((
        s.Field("latency", s.Duration(), "added one-way latency"),
        s.Field("jitter", s.Duration(), "uniform ± jitter", 0.0),
        s.Field("links", LINKS, "which links (default all)", None),
    ), shorthand="latency")

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> LatencyOptions:
        if values["jitter"] > values["latency"]:
            raise node.error("jitter cannot exceed latency", field="latency.jitter")
        links = values["links"]
        if links is None:
            links = frozenset((a, b) for a in ctx.nodes for b in ctx.nodes if a != b)
        return LatencyOptions(values["latency"], values["jitter"], links)

    effect = "slow"

    def nodes(self, options: LatencyOptions) -> tuple[str, ...]:
        return tuple(sorted({n for link in options.links for n in link}))

    def links(self, options: LatencyOptions) -> frozenset[Link]:
        return options.links

    def delay_of(self, options: LatencyOptions) -> float:
        return options.latency + options.jitter

    def describe(self, options: LatencyOptions) -> str:
        jitter = f" ±{options.jitter * 1000:.0f}ms" if options.jitter else ""
        return f"latency +{options.latency * 1000:.0f}ms{jitter} on {len(options.links)} links"

    def start(self, options: LatencyOptions, env: FaultEnv) -> None:
        env.cluster.network.set_latency(env.key, options.links, options.latency, options.jitter)

    def stop(self, options: LatencyOptions, env: FaultEnv) -> None:
        env.cluster.network.revert(env.key)


@dataclass(frozen=True)
class ToxicOptions:
    type: str
    attributes: dict[str, Any]
    toxicity: float
    links: frozenset[Link]


class Toxic(FaultType[ToxicOptions]):
    name = "toxic"
    doc = ("Any Toxiproxy toxic on the messages of some links, with Toxiproxy's attributes: "
           + ", ".join(TOXIC_TYPES) + ".")
    scope = NETWORK
    options = s.Struct((
        s.Field("type", s.Str(TOXIC_TYPES), "the Toxiproxy toxic type"),
        s.Field("attributes", s.MappingOf(), "the toxic's attributes, as Toxiproxy names them",
                None),
        s.Field("toxicity", s.Probability(), "chance the toxic applies to a connection", 1.0),
        s.Field("links", LINKS, "which links (default all)", None),
    ), shorthand="type")

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> ToxicOptions:
        links = values["links"]
        if links is None:
            links = frozenset((a, b) for a in ctx.nodes for b in ctx.nodes if a != b)
        attributes = values["attributes"] or {}
        for key, value in attributes.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(
                    f"attribute {key!r} must be a number (Toxiproxy's units: ms, KB/s, bytes)",
                    path=node.path, line=node.line, field="toxic.attributes")
        return ToxicOptions(values["type"], dict(attributes), values["toxicity"], links)

    def describe(self, options: ToxicOptions) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in options.attributes.items())
        return f"toxic {options.type}({attrs}) on {len(options.links)} links"

    effect = "slow"

    def effect_of(self, options: ToxicOptions) -> Effect:
        stalls = options.type == "bandwidth" and not options.attributes.get("rate")
        if options.type in LOSSY_TOXICS or stalls:
            return "lossy"
        return "slow"

    def delay_of(self, options: ToxicOptions) -> float:
        if options.type == "latency":  # Toxiproxy's attributes are in milliseconds
            attrs = options.attributes
            return (float(attrs.get("latency", 0)) + float(attrs.get("jitter", 0))) / 1000
        if options.type == "bandwidth":
            return math.inf  # a queue behind the limit: no bound the harness knows
        return 0.0

    def nodes(self, options: ToxicOptions) -> tuple[str, ...]:
        return tuple(sorted({n for link in options.links for n in link}))

    def links(self, options: ToxicOptions) -> frozenset[Link]:
        return options.links

    def start(self, options: ToxicOptions, env: FaultEnv) -> None:
        env.cluster.network.add_toxic(env.key, options.links, options.type,
                                      options.attributes, options.toxicity)

    def stop(self, options: ToxicOptions, env: FaultEnv) -> None:
        env.cluster.network.revert(env.key)
