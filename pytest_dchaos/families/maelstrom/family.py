"""Maelstrom's small workloads, each a protocol named as Maelstrom names it: ``echo``,
``unique-ids``, ``g-counter``, ``pn-counter``, ``txn-rw-register`` and ``lin-kv``.

Why a family of their own, and not workloads of an existing one: a family here is one
workload with its final phase, observations and checks (:mod:`~pytest_dchaos.families.base`),
and what these judge shares nothing with the four protocol families. Echo and unique-ids
are the node contract's smoke tests: no protocol, nothing between nodes, so no family's
checks apply. The counters are gossip's cousins (eventually consistent, judged after the
partitions heal), but the gossip family's observations (a set of values per node, a
membership view) and checks (convergence of that set, failure detection) do not fit a
number that is a sum; a gossip family with a second workload would need a second set of
default checks, final phase and conformance, i.e. a second family under one name. So each
is a family here, exactly as Maelstrom keeps one file per workload, and the protocol
families answer to Maelstrom's names where they cover one (``broadcast`` is gossip).
``txn-rw-register`` shares the txn family's messages, clients and isolation check, but not
its protocol: Maelstrom's transactions are totally available and judged at a consistency
model, where the txn family's commit atomically across shards (2PC, 3PC) and are judged for
atomicity, blocking and deadlocks, which a totally available store has none of.

Maelstrom's conditions are the defaults: its clients' operations and values (see
:mod:`~pytest_dchaos.families.maelstrom.workloads`), final reads after the heal for the
counters. Registered through the ``dchaos`` entry-point group, as a third-party family would
be.
"""

from __future__ import annotations

from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.base import ProtocolFamily, RunContext, Workload
from pytest_dchaos.families.conformance import Conformance
from pytest_dchaos.families.maelstrom.checks.echo import Echo as EchoCheck
from pytest_dchaos.families.maelstrom.checks.final_count import FinalCount
from pytest_dchaos.families.maelstrom.checks.unique_ids import UniqueIds as UniqueIdsCheck
from pytest_dchaos.families.maelstrom.conformance import (
    CounterConformance,
    EchoConformance,
    UniqueIdsConformance,
)
from pytest_dchaos.families.maelstrom.counter import acceptable
from pytest_dchaos.families.maelstrom.observations import FINAL_COUNTS, FinalCounts
from pytest_dchaos.families.maelstrom.workloads import (
    CounterWorkload,
    EchoWorkload,
    LinKvWorkload,
    UniqueIdsWorkload,
)
from pytest_dchaos.families.txn.family import txn_stats
from pytest_dchaos.families.txn.observations import REQUESTS, Requests
from pytest_dchaos.families.txn.workload import TxnWorkload, request_log
from pytest_dchaos.hookspecs import hookimpl
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord
from pytest_dchaos.run.workload import FinalReads
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.model import Scenario

#: The reference nodes of these workloads live in one package.
_NODES = "reference_nodes.maelstrom"

#: What ``dchaos explore`` draws for Maelstrom's workloads unless told otherwise: network
#: faults, as Maelstrom's nemesis makes (it partitions; its network delays and reorders,
#: and never duplicates a message). Their nodes may keep everything in memory, so a crash
#: or restart would fail them for a loss their challenge never asks them to survive.
MAELSTROM_FAULTS = ("partition", "loss", "reorder", "latency", "toxic")
MAELSTROM_FAULTS_WHY = ("the network faults Maelstrom tests its workloads under; its nodes "
                        "may keep state in memory only")


class _Maelstrom(ProtocolFamily):
    """A Maelstrom workload: explored under Maelstrom's fault model."""

    explore_faults = MAELSTROM_FAULTS
    explore_faults_why = MAELSTROM_FAULTS_WHY


class Echo(_Maelstrom):
    name = "echo"
    doc = ("Maelstrom's echo workload (Gossip Glomers challenge 1): `echo {echo}` → "
           "`echo_ok {echo}`. The node contract's first smoke test.")
    default_checks = ("echo",)

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", f"{_NODES}.echo")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        return EchoWorkload()

    def conformance(self) -> Conformance:
        return EchoConformance()


class UniqueIds(_Maelstrom):
    name = "unique-ids"
    doc = ("Maelstrom's unique-ids workload (Gossip Glomers challenge 2): `generate` → "
           "`generate_ok {id}`, every id unique in the whole run, any JSON value.")
    default_checks = ("unique_ids",)

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", f"{_NODES}.unique_ids")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        return UniqueIdsWorkload()

    def conformance(self) -> Conformance:
        return UniqueIdsConformance()


class _Counter(_Maelstrom):
    """Clients add and read; after the heal, every live node is read until all read the
    same acceptable value (see :mod:`~pytest_dchaos.families.maelstrom.counter`) or
    recovery time is up — Maelstrom waits its 10 s and reads once."""

    negative: bool
    default_checks = ("final_count",)
    workload_options = (
        s.Field("read_ratio", s.Probability(), "share of operations that are reads "
                "(Maelstrom mixes adds and reads evenly)", 0.5),
    )

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", f"{_NODES}.counter")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        return CounterWorkload(scenario.workload.options["read_ratio"], self.negative)

    def conformance(self) -> Conformance:
        return CounterConformance()

    def final(self, ctx: RunContext) -> None:
        allowed = acceptable(ctx.history)

        def settled() -> bool:
            outcomes = reads.read()
            values = {value for outcome, value in outcomes.values() if outcome == OK}
            return (bool(outcomes) and all(o == OK for o, _ in outcomes.values())
                    and len(values) == 1 and values.pop() in allowed)

        with FinalReads(ctx.cluster, CounterWorkload(1.0, self.negative), ctx.history,
                        ctx.scenario.workload, ctx.scenario.node_ids) as reads:
            settled_at = ctx.poll(settled)
        live = ctx.cluster.live_nodes()
        ctx.observations[FINAL_COUNTS] = FinalCounts(
            healed_at=ctx.healed_at, deadline=ctx.deadline, settled_at=settled_at,
            live_nodes=live, final_reads={n: reads.last[n] for n in live if n in reads.last},
            unread=tuple(n for n in live if n not in reads.last))


class GCounter(_Counter):
    name = "g-counter"
    negative = False
    doc = ("Maelstrom's g-counter workload (Gossip Glomers challenge 4): `add {delta}` "
           "(0..4) → `add_ok`, `read` → `read_ok {value}`; after the heal every node reads "
           "the sum of the acknowledged adds.")


class PNCounter(_Counter):
    name = "pn-counter"
    negative = True
    doc = ("Maelstrom's pn-counter workload: the g-counter's messages with deltas of "
           "either sign (-5..4); after the heal every node reads the sum of the "
           "acknowledged adds.")


class TxnRwRegister(_Maelstrom):
    name = "txn-rw-register"
    doc = ("Maelstrom's txn-rw-register workload (Gossip Glomers challenges 6a-6c): `txn "
           "{txn: [[\"r\", k, null], [\"w\", k, v], ..]}` → `txn_ok` with the reads "
           "filled in; every write gives its key a new value. Judged by `isolation` at the "
           "consistency model the scenario names, and by `availability`.")
    default_checks = ("isolation",)
    workload_options = (
        s.Field("keys", s.Int(min=1), "how many keys transactions draw from", 8),
        s.Field("min_ops", s.Int(min=1), "fewest operations in a transaction", 1),
        s.Field("max_ops", s.Int(min=1), "most operations in a transaction (Maelstrom: "
                "--max-txn-length, 4)", 4),
        s.Field("read_ratio", s.Probability(), "share of operations that are reads", 0.5),
    )

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", f"{_NODES}.txn_register")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        o = scenario.workload.options
        return TxnWorkload(o["keys"], o["min_ops"], max(o["min_ops"], o["max_ops"]),
                           o["read_ratio"])

    def final(self, ctx: RunContext) -> None:
        """Nothing to wait for (Maelstrom judges the history as it is); note which request
        carried each transaction, so the verdicts can name them."""
        ctx.observations[REQUESTS] = Requests(request_log(ctx.cluster).msg_ids(ctx.history))

    def stats(self, record: RunRecord) -> dict[str, Any]:
        return txn_stats(record)


class LinKv(_Maelstrom):
    name = "lin-kv"
    doc = ("Maelstrom's lin-kv workload, for crash-fault consensus nodes (Raft and the "
           "like): `read {key}`, `write {key, value}`, `cas {key, from, to}` (errors 20, "
           "22), each request to one node as Maelstrom's clients send them; judged "
           "`linearizable` from the client history.")
    default_checks = ("linearizable",)
    workload_options = (
        s.Field("keys", s.Int(min=1), "how many keys (each is its own register)", 4),
        s.Field("read_ratio", s.Probability(), "share of reads", 1 / 3),
        s.Field("cas_ratio", s.Probability(), "share of compare-and-sets (the rest are "
                "writes)", 1 / 3),
    )

    def reference_command(self) -> tuple[str, ...]:
        return ("python3", "-m", f"{_NODES}.lin_kv")

    def workload(self, scenario: Scenario, seed: int) -> Workload:
        o = scenario.workload.options
        return LinKvWorkload(o["keys"], o["read_ratio"], o["cas_ratio"])


@hookimpl
def dchaos_add_protocols() -> list[ProtocolFamily]:
    return [Echo(), UniqueIds(), GCounter(), PNCounter(), TxnRwRegister(), LinKv()]


@hookimpl
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    return [EchoCheck(), UniqueIdsCheck(), FinalCount()]
