"""Message-level faults a TCP proxy cannot make: loss, duplication, reordering of single
messages. The sending node's agent applies them, with its seeded random generator."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.cluster.network import Link
from pytest_dchaos.faults.base import MESSAGES, FaultEnv, FaultType
from pytest_dchaos.record.result import Effect
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.loader import LINKS
from pytest_dchaos.scenario.yamlsource import YNode


@dataclass(frozen=True)
class MessageOptions:
    drop: float
    duplicate: float
    reorder: float
    window: float
    delay: float
    types: tuple[str, ...]
    links: frozenset[Link]

    def rules(self) -> dict[str, list[dict[str, Any]]]:
        """Agent rules, per sending node."""
        dests: dict[str, list[str]] = defaultdict(list)
        for src, dest in sorted(self.links):
            dests[src].append(dest)
        rule = {"drop": self.drop, "duplicate": self.duplicate, "reorder": self.reorder,
                "window": self.window, "delay": self.delay, "types": list(self.types)}
        return {src: [{**rule, "dests": ds}] for src, ds in dests.items()}


class Message(FaultType[MessageOptions]):
    name = "message"
    doc = ("Lose, duplicate, delay or reorder single messages on some links (by message "
           "type if `types` is given); reordering holds a message back for up to `window` so "
           "later ones overtake it.")
    scope = MESSAGES
    options = s.Struct((
        s.Field("drop", s.Probability(), "chance a message is lost", 0.0),
        s.Field("duplicate", s.Probability(), "chance a message is delivered twice", 0.0),
        s.Field("reorder", s.Probability(), "chance a message is held back", 0.0),
        s.Field("window", s.Duration(), "how long a reordered message is held at most", 0.05),
        s.Field("delay", s.Duration(), "fixed delay added to every matching message", 0.0),
        s.Field("types", s.ListOf(s.Str(), scalar_ok=True), "only these body types", ()),
        s.Field("links", LINKS, "which links (default all)", None),
    ))

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> MessageOptions:
        if not any(values[k] for k in ("drop", "duplicate", "reorder", "delay")):
            raise node.error("does nothing: set drop, duplicate, reorder or delay",
                             field="message")
        links = values["links"]
        if links is None:
            links = frozenset((a, b) for a in ctx.nodes for b in ctx.nodes if a != b)
        return MessageOptions(values["drop"], values["duplicate"], values["reorder"],
                              values["window"], values["delay"], tuple(values["types"]),
                              links)

    def describe(self, options: MessageOptions) -> str:
        parts = [f"{k} {getattr(options, k):.0%}" for k in ("drop", "duplicate", "reorder")
                 if getattr(options, k)]
        if options.delay:
            parts.append(f"delay {options.delay * 1000:.0f}ms")
        types = f" of {','.join(options.types)}" if options.types else ""
        return f"messages{types}: {', '.join(parts)} on {len(options.links)} links"

    effect = "slow"

    def effect_of(self, options: MessageOptions) -> Effect:
        return "lossy" if options.drop else "slow"

    def nodes(self, options: MessageOptions) -> tuple[str, ...]:
        return tuple(sorted({n for link in options.links for n in link}))

    def links(self, options: MessageOptions) -> frozenset[Link]:
        # Heavy loss is as good as a cut for a failure detector, so say which links.
        return options.links

    def start(self, options: MessageOptions, env: FaultEnv) -> None:
        env.cluster.set_rules(env.key, options.rules())

    def stop(self, options: MessageOptions, env: FaultEnv) -> None:
        env.cluster.clear_rules(env.key)
