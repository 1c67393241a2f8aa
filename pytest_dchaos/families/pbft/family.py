"""The PBFT family: Byzantine-fault-tolerant state machine replication of a key-value store.

Clients are PBFT clients (Castro & Liskov §4.1): each request — ``read``, ``write`` or
``cas`` on a small key space — goes to every replica with the client's id, a timestamp that
grows with each of its requests, and a MAC authenticator (one HMAC per replica, under a key
the client shares with that replica). The client takes a result once f+1 replicas gave the
same one (so at least one honest replica vouches for it) and sends the request again to
all every ``retry`` until then. Its outcome in the history: ok (or a definite error the
store answered, such as a failed cas: fail); no f+1 agreement before the timeout: unknown.

The harness hands out the keys in ``init`` (``dchaos.pbft``): each replica's Ed25519 key
pair, every replica's public key, and the replica's MAC key with each client. They are
drawn from the run's seed, so a rerun uses the same keys.

After the faults heal, the final phase sends probe writes until one is accepted (so
liveness is judged even when the workload ended during a fault), then waits until the
honest replicas have executed the same number of requests, and reads every replica's
``dchaos_state``: its view, committed log, stable checkpoint, suspects and their evidence.
Every reply a client received, the workload's and the probes', is kept as the ``replies``
observation: what the harness saw each replica answer, in which view. Checks are in
``checks/``, a module each.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.cluster.extensions import STATE
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.families.base import LiveRun, ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.conformance import Conformance
from pytest_dchaos.families.pbft.checks.agreement import Agreement
from pytest_dchaos.families.pbft.checks.common import byzantine_nodes
from pytest_dchaos.families.pbft.checks.linearizable import Linearizable
from pytest_dchaos.families.pbft.checks.liveness import Liveness
from pytest_dchaos.families.pbft.checks.suspects import Suspects
from pytest_dchaos.families.pbft.checks.validity import Validity
from pytest_dchaos.families.pbft.checks.view_change import ViewChange
from pytest_dchaos.families.pbft.client import (
    PbftWorkload,
    client_ids,
    key_material,
)
from pytest_dchaos.families.pbft.lanes import view_lanes
from pytest_dchaos.families.pbft.observations import (
    PROBES,
    REPLIES,
    SETTLED,
    Probe,
    Probing,
    Settling,
)
from pytest_dchaos.families.pbft.quorums import max_faulty, primary_of
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import FAIL, INFO, OK
from pytest_dchaos.record.lanes import Lane
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario


class Pbft(ProtocolFamily):
    name = "pbft"
    doc = ("Castro and Liskov's Practical Byzantine Fault Tolerance replicating a key-value "
           "store (read, write, cas); clients send to every replica and accept f+1 matching "
           "replies. Byzantine behaviours by the `byzantine` fault; checks: agreement, "
           "validity, linearizable, liveness, view_change, suspects.")
    default_checks = ("agreement", "validity", "linearizable")
    twins = True
    workload_options = (
        s.Field("keys", s.Int(min=1), "how many keys operations draw from", 8),
        s.Field("read_ratio", s.Probability(), "share of operations that are reads", 0.4),
        s.Field("cas_ratio", s.Probability(), "share of operations that are compare-and-sets",
                0.2),
        s.Field("retry", s.Duration(), "how long a client waits for f+1 matching replies "
                "before sending its request to every replica again", 1.0),
    )

    def conformance(self) -> Conformance:
        # Imported here: the checks are this module's client with its keys (an import cycle
        # at the top).
        from pytest_dchaos.families.pbft.conformance import PbftConformance

        return PbftConformance()

    leader_role = ("the primary of the current view: the highest view f+1 replicas have "
                   "replied in so far (view 0 before any reply)")

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", "reference_nodes.pbft")

    def first_leader(self, scenario: Scenario) -> str | None:
        return primary_of(0, scenario.node_ids)

    def leader(self, run: LiveRun) -> str | None:
        """The primary of the view the clients' replies show: f+1 replicas replied in it,
        so a lying replica alone cannot move it."""
        if not isinstance(run.workload, PbftWorkload):
            return None
        nodes = run.scenario.node_ids
        quorum = max_faulty(len(nodes)) + 1
        view = run.workload.replies.current_view(quorum, run.cluster.plan.identity)
        return primary_of(view, nodes)

    def init_extra(self, scenario: Scenario, node: str, seed: int) -> dict[str, Any]:
        extra = super().init_extra(scenario, node, seed)
        extra["pbft"] = key_material(seed, node, scenario.node_ids, client_ids(scenario))
        return extra

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        o = scenario.workload.options
        # The clients' MAC keys come from the seed, as the replicas' do (init_extra).
        return PbftWorkload(o["keys"], o["read_ratio"], o["cas_ratio"], o["retry"], seed)

    def final(self, ctx: RunContext) -> None:
        """Probe until a write is accepted; then wait for the honest replicas to have
        executed as much as each other; then keep every reply the clients received."""
        healed_at, deadline = ctx.healed_at, ctx.deadline
        workload = self.workload(ctx.scenario, ctx.seed)
        assert isinstance(workload, PbftWorkload)
        if isinstance(ctx.workload, PbftWorkload):
            workload.replies = ctx.workload.replies  # one record of replies for the run
        client = client_ids(ctx.scenario)[-1]
        probes: list[Probe] = []
        timestamp = 0
        while ctx.clock() < deadline:
            timestamp += 1
            value = {"key": "probe", "value": timestamp, "client": client,
                     "timestamp": timestamp}
            invocation = ctx.history.invoke(client, "write", value)
            future = workload.submit(ctx.cluster, client, "", "write", value)
            try:
                reply = future.result(max(0.1, deadline - ctx.clock()))
            except (FutureTimeout, HarnessError) as exc:
                future.abandon(ctx.cluster)
                ctx.history.complete(invocation, INFO, value, str(exc) or "timeout")
                probes.append(Probe(ctx.clock(), ok=False))
                continue
            outcome, result = workload.completion("write", value, reply)
            ctx.history.complete(invocation, outcome, result)
            probes.append(Probe(ctx.clock(), ok=outcome == OK))
            if outcome == OK:
                break
        ctx.observations[PROBES] = Probing(healed_at, tuple(probes))
        byzantine = {n for e in ctx.faults if e.effect == "byzantine" and e.action == "start"
                     for n in e.nodes} | twinned(ctx.scenario)
        # Honest replicas that report their state; of the others nothing is known to await.
        honest = [n for n in ctx.cluster.offering(STATE)
                  if ctx.cluster.plan.identity(n) not in byzantine]
        executed: dict[str, Any] = {}

        def settled() -> bool:
            nonlocal executed
            replies = ctx.cluster.ask_all(honest, {"type": STATE},
                                          reply_type="dchaos_state_ok", timeout=3.0)
            executed = {n: r.get("last_executed") for n, r in replies.items()}
            return len(replies) == len(honest) and len(set(executed.values())) <= 1

        settled_at = ctx.poll(settled)
        ctx.observations[SETTLED] = Settling(healed_at, settled_at, executed)
        # Last: the probes' replies are in, and no request is listening any more.
        ctx.observations[REPLIES] = workload.replies.replies(ctx.history.t0,
                                                             ctx.cluster.plan.identity)

    def report_lanes(self, run: ReportFolder) -> list[Lane]:
        return view_lanes(run)

    def stats(self, record: RunRecord) -> dict[str, Any]:
        calls = [(i, c) for i, c in record.history.pairs()
                 if i.f in ("read", "write", "cas") and i.time < record.scenario.workload.duration]
        done = [(i, c) for i, c in calls if c is not None and c.type in (OK, FAIL)]
        duration = record.scenario.workload.duration
        views = [int(st.get("view", 0)) for st in record.node_states.values()]
        n = len(record.nodes)
        return {
            "accepted": len(done),
            "accepted_per_s": round(len(done) / duration, 1) if duration else None,
            "request_latency_ms": quantiles_ms([c.time - i.time for i, c in done]),
            "n": n, "f": max_faulty(n), "byzantine": sorted(byzantine_nodes(record)),
            "max_view": max(views, default=0),
        }

    def notes(self, scenario: Scenario, firings: list[Any]) -> list[str]:
        n = len(scenario.node_ids)
        byzantine = scheduled_byzantine(firings) | twinned(scenario)
        f = max_faulty(n)
        if len(byzantine) > f:
            return [f"bound broken: {len(byzantine)} Byzantine replicas "
                    f"({', '.join(sorted(byzantine))}) but {n} replicas tolerate at most "
                    f"f={f} (n >= 3f+1); safety may fail, and the checks say what did"]
        return []


def twinned(scenario: Scenario) -> set[str]:
    """Nodes with a twin: each is one Byzantine replica (two honest copies that disagree)."""
    return {t.node for t in scenario.cluster.twins}


def scheduled_byzantine(firings: list[Any]) -> set[str]:
    """Nodes the fault schedule makes Byzantine: a ``byzantine`` fault's, and the senders of
    a message fault that mutates or replays (whatever their code, they lie)."""
    return {node for firing in firings
            if firing.fault.effect_of(firing.options) == "byzantine"
            for node in firing.fault.nodes(firing.options)}


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [Pbft()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [Agreement(), Validity(), Linearizable(), Liveness(), ViewChange(), Suspects()]
