"""The grow-only counter family: clients add to a counter and read it; after the faults
heal, every live node must read the sum of what was acknowledged.

Registered through the ``dchaos`` entry-point group (see pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from gcounter_dchaos.checks.final_value import FinalValue
from gcounter_dchaos.observations import FINAL, FinalValues
from gcounter_dchaos.workload import CounterWorkload
from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.base import ProtocolFamily, RunContext, Workload
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.history import OK
from pytest_dchaos.run.workload import FinalReads
from pytest_dchaos.scenario.model import Scenario


class GCounter(ProtocolFamily):
    name = "gcounter"
    doc = "A grow-only counter: add and read; the final reads sum what was acknowledged."
    default_checks = ("final_value",)

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", "gcounter_dchaos.node")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        return CounterWorkload()

    def final(self, ctx: RunContext) -> None:
        # Read every live node (each as a client of its own, recorded in the history)
        # until they all answer the same, or recovery time is up.
        def agreed() -> bool:
            outcomes = reads.read().values()
            return all(o == OK for o, _ in outcomes) and len({v for _, v in outcomes}) == 1

        with FinalReads(ctx.cluster, CounterWorkload(), ctx.history,
                        ctx.scenario.workload, ctx.scenario.node_ids) as reads:
            settled_at = ctx.poll(agreed)
        live = ctx.cluster.running_nodes()
        ctx.observations[FINAL] = FinalValues(settled_at, {n: reads.last.get(n) for n in live})


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [GCounter()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [FinalValue()]
