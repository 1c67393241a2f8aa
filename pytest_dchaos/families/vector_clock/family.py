"""The vector-clock family: causal broadcast, transfers and Chandy-Lamport snapshots.

Clients broadcast unique integers (``cbcast``), read what a node delivered (``read``), move
units of the resource between nodes (``transfer``) and start snapshots (``snapshot``).
After the faults heal, the final phase reads every live node until each has delivered
every acknowledged broadcast and has nothing in flight, so that snapshots can complete.

The checks (``checks/``) judge what clients read against the causal order the client
history shows (``client_order``), and the nodes' event logs against the happens-before
relation the harness computes itself (``causality``) and against those reads. The report
folder also gets ``shiviz.log`` (open it in ShiViz as it is) and ``spacetime.svg``.

Registered through the ``dchaos`` entry-point group, as a third-party family would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.extensions import STATE
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.families.base import ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.conformance import Conformance
from pytest_dchaos.families.vector_clock import shiviz, spacetime
from pytest_dchaos.families.vector_clock.checks.causal_delivery import CausalDelivery
from pytest_dchaos.families.vector_clock.checks.common import analysis
from pytest_dchaos.families.vector_clock.checks.delivered_everywhere import DeliveredEverywhere
from pytest_dchaos.families.vector_clock.checks.fifo_channels import FifoChannels
from pytest_dchaos.families.vector_clock.checks.shiviz_log import ShivizLog
from pytest_dchaos.families.vector_clock.checks.snapshots import Snapshots
from pytest_dchaos.families.vector_clock.checks.vector_clocks import VectorClocks
from pytest_dchaos.families.vector_clock.conformance import VectorClockConformance
from pytest_dchaos.families.vector_clock.lanes import snapshot_lanes
from pytest_dchaos.families.vector_clock.observations import DELIVERY, Delivering, delivering
from pytest_dchaos.families.vector_clock.workload import (
    CausalWorkload,
    broadcast_message,
    read_messages,
)
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.lanes import Lane
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.run.workload import FinalReads
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario


class VectorClock(ProtocolFamily):
    name = "vector_clock"
    doc = ("Causal broadcast with vector clocks, transfers between nodes and Chandy-Lamport "
           "snapshots: causal delivery, exact concurrency detection, consistent snapshots, "
           "FIFO channels; ShiViz log and space-time diagram in the report.")
    default_checks = ("causal_delivery", "delivered_everywhere", "vector_clocks",
                      "snapshots")
    workload_options = (
        s.Field("read_ratio", s.Probability(), "share of operations that are reads", 0.1),
        s.Field("transfer_ratio", s.Probability(),
                "share of operations that move units between nodes", 0.3),
        s.Field("snapshot_ratio", s.Probability(),
                "share of operations that start a snapshot", 0.02),
        s.Field("max_amount", s.Int(min=1), "largest amount one transfer moves", 10),
    )

    def conformance(self) -> Conformance:
        return VectorClockConformance()

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", "reference_nodes.vector_clock")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        o = scenario.workload.options
        return CausalWorkload(o["read_ratio"], o["transfer_ratio"], o["snapshot_ratio"],
                              o["max_amount"])

    def final(self, ctx: RunContext) -> None:
        """Read every live node until all delivered every acknowledged broadcast and none
        has messages in flight or held back, or recovery time is up."""
        acknowledged = {broadcast_message(op.value) for op in ctx.history.ops
                        if op.f == "cbcast" and op.type == OK}
        converged_at: float | None = None

        def settled() -> bool:
            nonlocal converged_at
            outcomes = reads.read()
            live = tuple(outcomes)
            if converged_at is None and live and all(
                    outcome == OK and acknowledged <= set(read_messages(value) or ())
                    for outcome, value in outcomes.values()):
                converged_at = ctx.clock()
            return converged_at is not None and _quiet(ctx.cluster, live)

        with FinalReads(ctx.cluster, self.workload(ctx.scenario, ctx.seed), ctx.history,
                        ctx.scenario.workload, ctx.scenario.node_ids) as reads:
            quiet_at = ctx.poll(settled)
        ctx.observations[DELIVERY] = Delivering(
            healed_at=ctx.healed_at, deadline=ctx.deadline, converged_at=converged_at,
            quiet_at=quiet_at, acknowledged=len(acknowledged),
            live_nodes=ctx.cluster.live_nodes(),
            final_reads={n: read_messages(v) or [] for n, v in reads.last.items()})

    def report_lanes(self, run: ReportFolder) -> list[Lane]:
        return snapshot_lanes(run)

    def stats(self, record: RunRecord) -> dict[str, Any]:
        out: dict[str, Any] = {}
        delivery = delivering(record)
        if delivery is not None and delivery.converged_at is not None:
            out["time_to_deliver_s"] = round(delivery.converged_at - delivery.healed_at, 3)
        facts = analysis(record)
        if facts.causality is not None:
            out["events"] = facts.causality.total_events()
            out["hold_back_ms"] = quantiles_ms(facts.hold_back)
        return out

    def artifacts(self, record: RunRecord, directory: Path) -> list[str]:
        written = []
        facts = analysis(record)
        if facts.causality is not None and facts.causality.total_events():
            source = shiviz.write(directory / "shiviz.log", facts.causality,
                                  facts.valid_node_clocks)
            written.append(f"`shiviz.log`: every node's events with {source}, for ShiViz "
                           "(https://bestchai.bitbucket.io/shiviz/): paste or open it as it is")
        # Messages that carry a msg_id are the ones a node can name in its log; the rest
        # (acknowledgements) would only crowd the picture.
        trace = list(record.trace())
        named = {e.get("type") for e in trace if e.get("ev") == "send" and "mi" in e}
        svg = spacetime.render_svg(trace, record.nodes, record.history.t0,
                                   record.faults, max_messages=800,
                                   types={str(t) for t in named} or None,
                                   title=f"{record.scenario.name}: messages between nodes")
        (directory / "spacetime.svg").write_text(svg, encoding="utf-8")
        written.append("`spacetime.svg`: space-time diagram of the messages (those with a "
                       "msg_id), faults shaded")
        return written


def _quiet(cluster: Cluster, live: tuple[str, ...]) -> bool:
    """No node that reports its state has a message in flight or held back (of the others
    nothing is known to wait for)."""
    askable = cluster.offering(STATE, live)
    replies = cluster.ask_all(askable, {"type": STATE}, reply_type="dchaos_state_ok",
                              timeout=3.0)
    return len(replies) == len(askable) and all(
        not r.get("in_flight") and not r.get("held_back") for r in replies.values())


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [VectorClock()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [CausalDelivery(), DeliveredEverywhere(), VectorClocks(), Snapshots(),
            FifoChannels(), ShivizLog()]
