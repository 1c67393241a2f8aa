"""The gossip family: Maelstrom's broadcast workload plus SWIM-style membership.

Clients broadcast unique integers and read what a node has; after the faults heal the final
phase reads every live node until each holds every acknowledged value (or recovery time
runs out), and — when a check needs it — until every live node sees every other live node
alive. A monitor samples ``members`` on every node during the whole run, for the failure
detection and rejoin checks.

Registered through the ``dchaos`` entry-point group, as a third-party family would be.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.families.base import Monitor, ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.gossip import topology as topologies
from pytest_dchaos.families.gossip.checks.convergence import Convergence
from pytest_dchaos.families.gossip.checks.failure_detection import FailureDetection
from pytest_dchaos.families.gossip.checks.no_invented_values import NoInventedValues
from pytest_dchaos.families.gossip.checks.rejoin import Rejoin
from pytest_dchaos.families.gossip.checks.stable_latency import StableLatency, stable_latencies
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.history import FAIL, INFO, OK
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.run.workload import OpExecutor
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario

MEMBERSHIP = "membership"
CONVERGENCE = "convergence"
FINAL_POLL = 0.25


class GossipWorkload(Workload):
    """Broadcasts of unique integers and reads, mixed by ``read_ratio``."""

    def __init__(self, read_ratio: float) -> None:
        self.read_ratio = read_ratio
        self._values = itertools.count(1)
        self._lock = threading.Lock()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        if rng.random() < self.read_ratio:
            return "read", None
        with self._lock:
            return "broadcast", next(self._values)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "broadcast":
            return {"type": "broadcast", "message": value}
        return {"type": f}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]) -> tuple[str, Any]:
        if f == "broadcast":
            return (OK, value) if reply.get("type") == "broadcast_ok" else (INFO, value)
        messages = reply.get("messages")
        if reply.get("type") == "read_ok" and isinstance(messages, list):
            return OK, sorted(m for m in messages if isinstance(m, int))
        return FAIL, None


def query_members(cluster: Cluster, nodes: tuple[str, ...], timeout: float
                  ) -> dict[str, dict[str, str]]:
    """Ask ``nodes`` for their membership view at once; silent nodes are left out."""
    replies = cluster.ask_all(nodes, {"type": "members"}, reply_type="members_ok",
                              timeout=timeout)
    return {node: {str(k): str(v) for k, v in reply["members"].items()}
            for node, reply in replies.items() if isinstance(reply.get("members"), dict)}


class Gossip(ProtocolFamily):
    name = "gossip"
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

        def sample(cluster: Cluster, now: float) -> dict[str, Any]:
            views = query_members(cluster, cluster.running_nodes(), max(interval, 0.5))
            return {"t": now, "views": views}

        return [Monitor(MEMBERSHIP, interval, sample)]

    def final(self, ctx: RunContext) -> None:
        """Read every live node until all hold every acknowledged value (and, if asked,
        all see each other alive), or until recovery time is up."""
        history = ctx.history
        acknowledged = {op.value for op in history.ops if op.f == "broadcast" and op.type == OK}
        want_membership = MEMBERSHIP in ctx.observations
        workload = ctx.scenario.workload
        healed_at = ctx.clock()
        deadline = healed_at + workload.recovery
        reader_ids = {n: f"c{workload.clients + i}"
                      for i, n in enumerate(ctx.scenario.node_ids, start=1)}
        final_reads: dict[str, list[int]] = {}
        converged_at = None
        settled_at = None
        timeout = min(workload.timeout, 2.0)
        reader = OpExecutor(ctx.cluster, GossipWorkload(0.0), history, timeout)
        with ThreadPoolExecutor(max_workers=max(1, len(ctx.scenario.node_ids))) as pool:
            while True:
                live = ctx.cluster.running_nodes()
                outcomes = dict(zip(live, pool.map(
                    lambda n: reader.run(reader_ids[n], n, "read", None), live),
                    strict=True))
                for node, (outcome, value) in outcomes.items():
                    if outcome == OK:
                        final_reads[node] = value
                now = ctx.clock()
                complete = live and all(
                    outcomes[n][0] == OK and acknowledged <= set(outcomes[n][1]) for n in live)
                if complete and converged_at is None:
                    converged_at = now
                if want_membership and settled_at is None:
                    views = query_members(ctx.cluster, live, timeout)
                    ctx.observations[MEMBERSHIP].append({"t": now, "views": views})
                    if len(views) == len(live) and all(
                            views[o].get(x) == "alive" for o in live for x in live):
                        settled_at = now
                if (converged_at is not None and (settled_at is not None or not want_membership)
                        ) or now >= deadline:
                    break
                time.sleep(FINAL_POLL)
        live_end = tuple(n for n in ctx.cluster.live_nodes())
        ctx.observations[CONVERGENCE] = {
            "healed_at": healed_at,
            "deadline": deadline,
            "acknowledged": len(acknowledged),
            "converged_at": converged_at,
            "membership_settled_at": settled_at,
            "live_nodes": list(live_end),
            "final_reads": final_reads,
            "unread": [n for n in live_end if n not in final_reads],
        }

    def stats(self, record: RunRecord) -> dict[str, Any]:
        latencies, lost = stable_latencies(record.history)
        conv = record.observations.get(CONVERGENCE, {})
        out: dict[str, Any] = {"stable_latency_ms": quantiles_ms(latencies.values()),
                               "lost_values": len(lost)}
        if conv.get("converged_at") is not None:
            out["time_to_converge_s"] = round(conv["converged_at"] - conv["healed_at"], 3)
        return out


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [Gossip()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType]:
    return [Convergence(), NoInventedValues(), StableLatency(), FailureDetection(), Rejoin()]
