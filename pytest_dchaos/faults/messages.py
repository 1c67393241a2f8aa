"""Message-level faults a TCP proxy cannot make: loss, duplication, reordering of single
messages, and ByzzFuzz-style small-scope mutations (Winter et al., 2023: one integer field
of a protocol message moved by one — a view, a sequence number — or an earlier message sent
again). The sending node's agent applies them, with its seeded random generator, so they
work on any node, in any language.

A fault that loses, duplicates, delays or reorders makes its *links* unreliable; one that
mutates or replays makes its *senders* Byzantine (a correct node does neither), and counts
against the f a Byzantine-fault-tolerant protocol tolerates. One entry is one or the other,
so each is judged as what it is."""

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
    mutate: float = 0.0
    replay: float = 0.0
    #: The body fields a mutation may change (empty: any integer field).
    fields: tuple[str, ...] = ()

    @property
    def byzantine(self) -> bool:
        """Its senders lie: they change or replay what they send."""
        return bool(self.mutate or self.replay)

    def senders(self) -> tuple[str, ...]:
        return tuple(sorted({src for src, _ in self.links}))

    def rules(self) -> dict[str, list[dict[str, Any]]]:
        """Agent rules, per sending node."""
        dests: dict[str, list[str]] = defaultdict(list)
        for src, dest in sorted(self.links):
            dests[src].append(dest)
        rule = {"drop": self.drop, "duplicate": self.duplicate, "reorder": self.reorder,
                "window": self.window, "delay": self.delay, "types": list(self.types),
                "mutate": self.mutate, "replay": self.replay, "fields": list(self.fields)}
        return {src: [{**rule, "dests": ds}] for src, ds in dests.items()}


NETWORK_OPTIONS = ("drop", "duplicate", "reorder", "delay")
BYZANTINE_OPTIONS = ("mutate", "replay")


class Message(FaultType[MessageOptions]):
    name = "message"
    doc = ("Lose, duplicate, delay or reorder single messages on some links (by message "
           "type if `types` is given); reordering holds a message back for up to `window` so "
           "later ones overtake it. Or, ByzzFuzz-style, make the senders Byzantine: `mutate` "
           "moves one integer field of a message's body by one (among `fields` if given; "
           "never `msg_id` or `in_reply_to`), `replay` sends an earlier message to the same "
           "destination again with it. A fault does one kind or the other.")
    scope = MESSAGES
    options = s.Struct((
        s.Field("drop", s.Probability(), "chance a message is lost", 0.0),
        s.Field("duplicate", s.Probability(), "chance a message is delivered twice", 0.0),
        s.Field("reorder", s.Probability(), "chance a message is held back", 0.0),
        s.Field("window", s.Duration(), "how long a reordered message is held at most", 0.05),
        s.Field("delay", s.Duration(), "fixed delay added to every matching message", 0.0),
        s.Field("mutate", s.Probability(), "chance one integer field of a message's body is "
                "moved by one (its sender turns Byzantine)", 0.0),
        s.Field("fields", s.ListOf(s.Str(), scalar_ok=True), "mutate: only these body fields "
                "(default any integer one)", ()),
        s.Field("replay", s.Probability(), "chance an earlier message (of the last 32 to the "
                "same destination) is sent again along with one (its sender turns "
                "Byzantine)", 0.0),
        s.Field("types", s.ListOf(s.Str(), scalar_ok=True), "only these body types", ()),
        s.Field("links", LINKS, "which links (default all)", None),
    ))

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> MessageOptions:
        network = [k for k in NETWORK_OPTIONS if values[k]]
        byzantine = [k for k in BYZANTINE_OPTIONS if values[k]]
        if not network and not byzantine:
            raise node.error("does nothing: set drop, duplicate, reorder, delay, mutate or "
                             "replay", field="message")
        if network and byzantine:
            raise node.error(f"{', '.join(byzantine)} make the senders Byzantine, "
                             f"{', '.join(network)} make the links unreliable: write them as "
                             "two faults, so each is judged as what it is", field="message")
        if values["fields"] and not values["mutate"]:
            raise node.error("fields says which fields mutate may change: set mutate",
                             field="message")
        links = values["links"]
        if links is None:
            links = frozenset((a, b) for a in ctx.nodes for b in ctx.nodes if a != b)
        return MessageOptions(values["drop"], values["duplicate"], values["reorder"],
                              values["window"], values["delay"], tuple(values["types"]),
                              links, values["mutate"], values["replay"],
                              tuple(values["fields"]))

    def describe(self, options: MessageOptions) -> str:
        parts = [f"{k} {getattr(options, k):.0%}"
                 for k in ("drop", "duplicate", "reorder", "mutate", "replay")
                 if getattr(options, k)]
        if options.fields:
            parts[parts.index(f"mutate {options.mutate:.0%}")] += f" of {','.join(options.fields)}"
        if options.delay:
            parts.append(f"delay {options.delay * 1000:.0f}ms")
        types = f" of {','.join(options.types)}" if options.types else ""
        senders = f" from {','.join(options.senders())}" if options.byzantine else ""
        return f"messages{types}{senders}: {', '.join(parts)} on {len(options.links)} links"

    effect = "slow"

    def effect_of(self, options: MessageOptions) -> Effect:
        if options.byzantine:
            return "byzantine"
        return "lossy" if options.drop else "slow"

    def delay_of(self, options: MessageOptions) -> float:
        return options.delay + (options.window if options.reorder else 0.0)

    def nodes(self, options: MessageOptions) -> tuple[str, ...]:
        if options.byzantine:
            return options.senders()  # the traitors; the receivers are honest
        return tuple(sorted({n for link in options.links for n in link}))

    def links(self, options: MessageOptions) -> frozenset[Link]:
        # Heavy loss is as good as a cut for a failure detector, so say which links.
        return options.links

    def start(self, options: MessageOptions, env: FaultEnv) -> None:
        env.cluster.set_rules(env.key, options.rules())

    def stop(self, options: MessageOptions, env: FaultEnv) -> None:
        env.cluster.clear_rules(env.key)
