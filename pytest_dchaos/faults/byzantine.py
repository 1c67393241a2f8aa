"""Byzantine faults: switch a node into a misbehaviour it implements itself.

The harness sends ``dchaos_byzantine {behavior, ...}`` to the node (over the control
channel, so no network fault can lose it) and expects ``dchaos_byzantine_ok``; with
``duration``, ``dchaos_byzantine {behavior: honest}`` ends it. A node that does not
implement the message cannot be made Byzantine this way, and the run stops with that said.
(Twins, which needs nothing from the node, is a cluster setting: ``cluster.twins``.)
"""

from __future__ import annotations

import random
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any

from pytest_dchaos.cluster.extensions import BYZANTINE
from pytest_dchaos.errors import FaultRefused, HarnessError
from pytest_dchaos.faults.base import PROCESS, FaultEnv, FaultType, pick_node
from pytest_dchaos.scenario import schema as s

#: What the reference replicas implement (docs/nodes/pbft.md); a user's node may know others.
BEHAVIOURS = ("silent", "equivocate", "forge", "corrupt", "replay", "slow_primary", "invent")
ANSWER_TIMEOUT = 5.0
LEADER = "leader"


@dataclass(frozen=True)
class ByzantineOptions:
    node: str
    behavior: str
    delay: float
    copies: int
    collude: bool = False

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "dchaos_byzantine", "behavior": self.behavior}
        if self.behavior == "slow_primary":
            out["delay_ms"] = round(self.delay * 1000)
        if self.behavior == "replay":
            out["copies"] = self.copies
        if self.behavior == "equivocate" and self.collude:
            out["collude"] = True
        return out


class Byzantine(FaultType[ByzantineOptions]):
    name = "byzantine"
    doc = ("Switch a node into a Byzantine behaviour it implements (`dchaos_byzantine`): "
           "silent, equivocate, forge, corrupt (digests), replay, slow_primary, invent "
           "(requests no client made), or random "
           "(drawn from the seed). With `duration`, it turns honest again after it.")
    scope = PROCESS
    effect = "byzantine"
    healable = False  # a heal restores the network, not the node's honesty
    options = s.Struct((
        s.Field("node", s.NodeRef(("random", "leader")),
                "which node (or random, or leader: the node leading when it starts)"),
        s.Field("behavior", s.Str((*BEHAVIOURS, "random")), "what it does"),
        s.Field("delay", s.Duration(), "slow_primary: how long each pre-prepare is held",
                1.5),
        s.Field("copies", s.Int(min=1), "replay: old messages sent along with each one", 3),
        s.Field("collude", s.Bool(), "equivocate: as a backup, lie only where the primary "
                "does (never alone)", False),
    ))
    options_type = ByzantineOptions

    def resolve(self, options: ByzantineOptions, rng: random.Random,
                nodes: tuple[str, ...]) -> ByzantineOptions:
        behavior = rng.choice(BEHAVIOURS) if options.behavior == "random" else options.behavior
        return ByzantineOptions(pick_node(options.node, rng, nodes), behavior, options.delay,
                                options.copies, options.collude)

    def at_fire(self, options: ByzantineOptions, env: FaultEnv) -> ByzantineOptions:
        if options.node != LEADER:
            return options
        # With no node leading, nobody turns: an empty node, which start and stop skip.
        return replace(options, node=env.leader() or "")

    def nodes(self, options: ByzantineOptions) -> tuple[str, ...]:
        return (options.node,) if options.node not in ("", LEADER) else ()

    def describe(self, options: ByzantineOptions) -> str:
        return f"{options.node or '(no node leads)'} turns {options.behavior}"

    def start(self, options: ByzantineOptions, env: FaultEnv) -> None:
        if options.node:
            _tell(env, options.node, options.body())

    def stop(self, options: ByzantineOptions, env: FaultEnv) -> None:
        if options.node and env.cluster.status(options.node) != "down":
            _tell(env, options.node, {"type": "dchaos_byzantine", "behavior": "honest"})


def _tell(env: FaultEnv, node: str, body: dict[str, Any]) -> None:
    if not env.cluster.offering(BYZANTINE, (node,)):
        raise FaultRefused(
            f"{node} cannot turn {body['behavior']}: it does not list {BYZANTINE} among the "
            "extensions in its init_ok, so it is not sent one (a node that does not "
            "implement it can still be tested with Byzantine twins: cluster.twins)")
    future = env.cluster.submit(node, body)
    try:
        reply = future.result(ANSWER_TIMEOUT)
    except FutureTimeout:
        future.abandon(env.cluster)
        raise HarnessError(f"{node} did not answer dchaos_byzantine within "
                           f"{ANSWER_TIMEOUT:g}s") from None
    if reply.get("type") != "dchaos_byzantine_ok":
        raise FaultRefused(
            f"{node} cannot turn {body['behavior']}: it answered {reply.get('type')} "
            f"{reply.get('text', '')}".rstrip() + " (a node that does not implement "
            "dchaos_byzantine can still be tested with Byzantine twins: cluster.twins)")
