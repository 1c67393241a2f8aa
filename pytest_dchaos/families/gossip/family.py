"""The gossip family: Maelstrom's broadcast workload plus SWIM-style membership.

Clients broadcast unique integers and read what a node has; after the faults heal the final
phase reads every live node until each holds every acknowledged value (or recovery time
runs out), and — when a check needs it — until every live node sees every other live node
alive. A monitor samples ``members`` on every node during the whole run, for the failure
detection and rejoin checks.

Registered through the ``dchaos`` entry-point group, as a third-party family would be.
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.extensions import MEMBERS
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.families.base import Monitor, ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.conformance import Conformance
from pytest_dchaos.families.gossip import topology as topologies
from pytest_dchaos.families.gossip.checks.convergence import Convergence
from pytest_dchaos.families.gossip.checks.failure_detection import FailureDetection
from pytest_dchaos.families.gossip.checks.no_invented_values import NoInventedValues
from pytest_dchaos.families.gossip.checks.rejoin import Rejoin
from pytest_dchaos.families.gossip.checks.stable_latency import StableLatency, stable_latencies
from pytest_dchaos.families.gossip.conformance import GossipConformance
from pytest_dchaos.families.gossip.lanes import membership_lanes
from pytest_dchaos.families.gossip.observations import (
    CONVERGENCE,
    MEMBERSHIP,
    Converging,
    MembershipSample,
    converging,
)
from pytest_dchaos.families.gossip.workload import GossipWorkload, query_members
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.lanes import Lane
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.run.workload import FinalReads
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario


class Gossip(ProtocolFamily):
    name = "gossip"
    aliases = ("broadcast",)
    doc = ("Epidemic broadcast with SWIM membership (Maelstrom's broadcast workload plus "
           "members): convergence, no invented values, stable latency, failure detection, "
           "rejoin.")
    topologies = (*topologies.TOPOLOGIES, "none")
    default_checks = ("convergence", "no_invented_values")
    workload_options = (
        s.Field("read_ratio", s.Probability(), "share of operations that are reads", 0.5),
        s.Field("membership_interval", s.Duration(),
                "how often the failure-detection monitor asks every node for `members` "
                "(the resolution of detection times)", 0.25),
    )

    def conformance(self) -> Conformance:
        return GossipConformance()

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", "reference_nodes.gossip")

    def setup(self, cluster: Cluster, scenario: Scenario) -> None:
        name = scenario.cluster.topology or "grid"
        if name == "none":
            return
        layout = topologies.build(name, scenario.node_ids)

        def send_topology(cluster: Cluster, node: str) -> None:
            reply = cluster.request(node, {"type": "topology", "topology": layout},
                                    timeout=scenario.workload.timeout)
            if reply.get("type") != "topology_ok":
                raise HarnessError(f"node {node} answered topology with {reply!r} "
                                   "instead of topology_ok")

        cluster.on_node_started.append(send_topology)

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        return GossipWorkload(scenario.workload.options["read_ratio"])

    def monitors(self, scenario: Scenario, needs: frozenset[str]) -> list[Monitor]:
        if MEMBERSHIP not in needs:
            return []
        interval = scenario.workload.options["membership_interval"]

        def sample(cluster: Cluster, now: float) -> MembershipSample:
            views = query_members(cluster, cluster.running_nodes(), max(interval, 0.5))
            return MembershipSample(now, views)

        return [Monitor(MEMBERSHIP, interval, sample)]

    def final(self, ctx: RunContext) -> None:
        """Read every live node until all hold every acknowledged value (and, if asked,
        all see each other alive), or until recovery time is up."""
        acknowledged = {op.value for op in ctx.history.ops
                        if op.f == "broadcast" and op.type == OK}
        # Only nodes that listed `members` are asked, and only views they give are awaited.
        want_membership = MEMBERSHIP in ctx.observations and bool(
            ctx.cluster.offering(MEMBERS, ctx.scenario.node_ids))
        timeout = min(ctx.scenario.workload.timeout, 2.0)
        converged_at: float | None = None
        settled_at: float | None = None

        def settled() -> bool:
            nonlocal converged_at, settled_at
            outcomes = reads.read()
            live = tuple(outcomes)
            now = ctx.clock()
            if converged_at is None and live and all(
                    outcome == OK and acknowledged <= set(value)
                    for outcome, value in outcomes.values()):
                converged_at = now
            if want_membership and settled_at is None:
                views = query_members(ctx.cluster, live, timeout)
                ctx.observations[MEMBERSHIP].append(MembershipSample(now, views))
                observers = ctx.cluster.offering(MEMBERS, live)
                if len(views) == len(observers) and all(
                        views[o].get(x) == "alive" for o in observers for x in live):
                    settled_at = now
            return converged_at is not None and (settled_at is not None or not want_membership)

        with FinalReads(ctx.cluster, GossipWorkload(0.0), ctx.history, ctx.scenario.workload,
                        ctx.scenario.node_ids) as reads:
            ctx.poll(settled)
        live = ctx.cluster.live_nodes()
        ctx.observations[CONVERGENCE] = Converging(
            healed_at=ctx.healed_at, deadline=ctx.deadline, acknowledged=len(acknowledged),
            converged_at=converged_at, membership_settled_at=settled_at, live_nodes=live,
            final_reads=reads.last, unread=tuple(n for n in live if n not in reads.last))

    def report_lanes(self, run: ReportFolder) -> list[Lane]:
        return membership_lanes(run)

    def stats(self, record: RunRecord) -> dict[str, Any]:
        latencies, lost = stable_latencies(record.history)
        conv = converging(record)
        out: dict[str, Any] = {"stable_latency_ms": quantiles_ms(latencies.values()),
                               "lost_values": len(lost)}
        if conv is not None and conv.converged_at is not None:
            out["time_to_converge_s"] = round(conv.converged_at - conv.healed_at, 3)
        return out


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [Gossip()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [Convergence(), NoInventedValues(), StableLatency(), FailureDetection(), Rejoin()]
