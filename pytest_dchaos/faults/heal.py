"""``heal``: revert the faults that are active now (a crash stays: restart it instead)."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.faults.base import (
    CONTROL,
    MESSAGES,
    NETWORK,
    PROCESS,
    FaultEnv,
    FaultType,
    Scope,
)
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode

HEAL_SCOPES: dict[str, tuple[Scope, ...]] = {
    "all": (NETWORK, MESSAGES, PROCESS),
    "network": (NETWORK,),
    "messages": (MESSAGES,),
    "pauses": (PROCESS,),
}


class Heal(FaultType[str]):
    name = "heal"
    doc = ("Revert active faults: `all` (partitions, latency, toxics, message faults, "
           "pauses), `network`, `messages` or `pauses`. Crashed nodes stay down.")
    scope = CONTROL
    revertible = False
    options = s.Struct((s.Field("what", s.Str(tuple(HEAL_SCOPES)), "which faults", "all"),),
                       shorthand="what")

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> str:
        what: str = values["what"]
        return what

    def describe(self, options: str) -> str:
        return f"heal {options}"

    def start(self, options: str, env: FaultEnv) -> None:
        env.nemesis.heal(HEAL_SCOPES[options])
