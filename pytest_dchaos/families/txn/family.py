"""The distributed-transaction family: read/write transactions over a sharded store.

Clients send Maelstrom txn-rw-register transactions (``[["r", k, null], ["w", k, v]]``) to
any node, which coordinates them. Keys come from a small key space so that transactions
contend; every write gives its key a value never written to it before, so each value read
traces back to exactly one transaction. After the faults heal, the final phase waits until
no node has a transaction still pending (or recovery time runs out). The checks
(``checks/``, a module each) judge the client history; the nodes' ``dchaos_state`` — their
decisions, each key's committed versions as whichever node lists the key reports them — is
reported evidence, cross-checked against the history and attributed to the node that
reported it.

The commit protocol (``2pc`` / ``3pc``) and the deadlock detector are cluster parameters
(``cluster.params``), handed to the nodes in ``init``.

Registered through the ``dchaos`` entry-point group, as a third-party family would be.
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.extensions import STATE
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.families.base import LiveRun, ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.conformance import Conformance
from pytest_dchaos.families.txn.checks.atomicity import Atomicity
from pytest_dchaos.families.txn.checks.blocking import Blocking
from pytest_dchaos.families.txn.checks.deadlock_handling import DeadlockHandling
from pytest_dchaos.families.txn.checks.isolation import Isolation
from pytest_dchaos.families.txn.checks.termination import Termination
from pytest_dchaos.families.txn.checks.txn_outcomes import Outcomes
from pytest_dchaos.families.txn.lanes import in_doubt_lanes
from pytest_dchaos.families.txn.observations import REQUESTS, SETTLED, Requests, Settling
from pytest_dchaos.families.txn.workload import TxnWorkload, request_log
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.lanes import Lane
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario


class Transactions(ProtocolFamily):
    name = "txn"
    doc = ("Read/write transactions over a sharded key-value store, committed with 2PC or "
           "3PC (cluster.params.commit_protocol) under strict two-phase locking, with "
           "deadlock detection: atomicity, outcomes, isolation anomalies (G0, G1, "
           "G-single, G2, lost update), blocking, termination, deadlock handling.")
    default_checks = ("atomicity", "txn_outcomes", "isolation")
    workload_options = (
        s.Field("keys", s.Int(min=1), "how many keys transactions draw from (fewer keys, "
                "more contention)", 8),
        s.Field("min_ops", s.Int(min=1), "fewest operations in a transaction", 1),
        s.Field("max_ops", s.Int(min=1), "most operations in a transaction", 4),
        s.Field("read_ratio", s.Probability(), "share of operations that are reads", 0.5),
    )

    def conformance(self) -> Conformance:
        # Imported here: the checks use this module's abort codes (an import cycle at the
        # top).
        from pytest_dchaos.families.txn.conformance import TxnConformance

        return TxnConformance()

    leader_role = ("a coordinator: the node the oldest client transaction still unanswered "
                   "was sent to (with none in flight, the node the latest one went to)")

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", "reference_nodes.txn")

    def leader(self, run: LiveRun) -> str | None:
        return run.workload.coordinator() if isinstance(run.workload, TxnWorkload) else None

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        o = scenario.workload.options
        return TxnWorkload(o["keys"], o["min_ops"], max(o["min_ops"], o["max_ops"]),
                           o["read_ratio"])

    def final(self, ctx: RunContext) -> None:
        """Wait until no live node has a pending decision, or recovery time is up; note
        which request carried each transaction."""
        ctx.observations[REQUESTS] = Requests(request_log(ctx.cluster).msg_ids(ctx.history))
        pending: dict[str, list[str]] | None = {}

        def settled() -> bool:
            nonlocal pending
            pending = _pending(ctx.cluster, ctx.cluster.running_nodes())
            return pending is not None and not any(pending.values())

        settled_at = ctx.poll(settled)
        ctx.observations[SETTLED] = Settling(ctx.healed_at, settled_at, pending or {})

    def report_lanes(self, run: ReportFolder) -> list[Lane]:
        return in_doubt_lanes(run)

    def stats(self, record: RunRecord) -> dict[str, Any]:
        out = txn_stats(record)
        flushes = sum(int(st.get("wal_flushes", 0)) for st in record.node_states.values())
        out["wal_flushes"] = flushes
        return out


def txn_stats(record: RunRecord) -> dict[str, Any]:
    """Committed and aborted transactions, their rate and commit latency, from the client
    history: the figures any transactional workload has."""
    calls = [(i, c) for i, c in record.history.pairs() if i.f == "txn"]
    committed = [c for _, c in calls if c is not None and c.type == OK]
    latencies = [c.time - i.time for i, c in calls if c is not None and c.type == OK]
    duration = record.scenario.workload.duration
    return {
        "committed": len(committed),
        "committed_per_s": round(len(committed) / duration, 1) if duration else None,
        "aborted": sum(1 for _, c in calls if c is not None and c.type == FAIL),
        "commit_latency_ms": quantiles_ms(latencies),
    }


def _pending(cluster: Cluster, live: tuple[str, ...]) -> dict[str, list[str]] | None:
    """Each reporting node's pending transactions; None if one did not answer. Nodes that
    report no state are not asked: nothing is known of them to wait for."""
    askable = cluster.offering(STATE, live)
    replies = cluster.ask_all(askable, {"type": STATE}, reply_type="dchaos_state_ok",
                              timeout=3.0)
    if len(replies) != len(askable):
        return None
    return {n: sorted(t for t, d in (r.get("decisions") or {}).items() if d == "pending")
            for n, r in replies.items()}


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [Transactions()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [Atomicity(), Outcomes(), Isolation(), Blocking(), Termination(),
            DeadlockHandling()]
