"""Every checker catches a deliberately broken node — and passes the reference node.

Each case is one scenario run twice on the local backend: with a node from
``tests/broken_nodes/`` that has exactly one bug, the named check must fail with a detail
that points at the bug; with the reference node, the same scenario must pass. The second
half is what shows the check discriminates rather than always failing.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

BROKEN = Path(__file__).parent.parent / "broken_nodes"
FAST_START = "params: {startup_grace_ms: 500}"


@dataclass(frozen=True)
class Case:
    node: str
    check: str
    expected: str  # in the failing verdict's detail (one of several, split by "|")
    scenario: str
    protocol: str = "gossip"


# Four replicas (f = 1), enough clients that batches hold several requests.
PBFT = """\
        cluster: {nodes: 4}
        network: {latency: 1ms}
        workload: {clients: 12, rate: 300/s, duration: 4s, recovery: 4s}
"""

# Few keys, long transactions, mostly writes: lock conflicts and deadlocks all the time.
CONTENDED = """\
    cluster: {nodes: 3, params: {lock_timeout_ms: 5000}}
    network: {latency: 10ms}
    workload: {clients: 8, rate: 120/s, duration: 4s, recovery: 5s, keys: 4, min_ops: 3,
               max_ops: 5, read_ratio: 0.3}
    """

# n1's links to n3 and n4 are slow: others' answers to n1's broadcasts overtake them.
SKEWED = """\
    cluster: {nodes: 5}
    network:
      latency: 2ms
      links: [{links: [n1->n3, n1->n4], latency: 150ms}]
    workload: {clients: 3, rate: 80/s, duration: 3s, recovery: 4s,
               transfer_ratio: 0.4, snapshot_ratio: 0.05}
    """


CASES = [
    Case("gossip_no_forward", "convergence", "missing acknowledged value", """\
        cluster: {nodes: 3}
        workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 3s}
        checks: [convergence]
        """),
    Case("gossip_invents", "no_invented_values", "never broadcast", """\
        cluster: {nodes: 3}
        workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 3s}
        checks: [no_invented_values]
        """),
    Case("gossip_never_dead", "failure_detection", "late or missed detection", f"""\
        cluster: {{nodes: 4, {FAST_START}}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 3s}}
        faults: [{{at: 2s, kill: n3}}]
        checks: [{{failure_detection: {{within: 3s, nodes: [n3]}}}}]
        """),
    # n5 restarts, again and again, after n3 has died and been marked dead everywhere: it
    # comes back believing everyone alive, and its first anti-entropy exchange sends that
    # whole table (to a random member, n3 too, hence three restarts). The others detected n3
    # in time; they take the stale news and flap back. Only judging every sample of the
    # episode, not the first detection, sees it.
    Case("gossip_flaps", "failure_detection", "flap(s) back from dead", f"""\
        cluster: {{nodes: 5, {FAST_START}}}
        workload: {{clients: 1, rate: 20/s, duration: 10s, recovery: 3s}}
        faults: [{{at: 1s, kill: n3}}, {{at: 2s, every: 1.5s, times: 5, kill: n5, duration: 0.8s}}]
        checks: [{{failure_detection: {{within: 3s, nodes: [n3]}}}}]
        """),
    Case("gossip_trigger_happy", "failure_detection", "false positive", f"""\
        cluster: {{nodes: 5, {FAST_START}}}
        network: {{latency: 100ms}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 3s}}
        checks: [{{failure_detection: {{within: 3s}}}}]
        """),
    Case("gossip_no_rejoin", "rejoin", "not re-admitted", f"""\
        cluster: {{nodes: 4, {FAST_START}}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 8s}}
        faults: [{{at: 1s, partition: {{isolate: n2}}, duration: 4s}}]
        checks: [{{rejoin: {{within: 5s}}}}]
        """),
    # n1 and n2 hear n3..n5, which never hear them: n3..n5 cannot be reached from n1 and
    # n2, but keep talking to them (a one-way cut, which no shipped scenario has).
    Case("gossip_heard_is_reachable", "failure_detection", "late or missed detection", f"""\
        cluster: {{nodes: 5, {FAST_START}}}
        workload: {{clients: 2, rate: 40/s, duration: 8s, recovery: 3s}}
        faults: [{{at: 1s, partition: {{from: [n1, n2], to: [n3, n4, n5]}}, duration: 5s}}]
        checks: [{{failure_detection: {{within: 3s}}}}]
        """),
    # Flooding costs about n-1 messages per operation, batching far less: ten nodes and a
    # brisk rate set them apart (about 10 against 5 per operation here).
    Case("gossip_chatty", "msgs_per_op", "over the budget", """\
        cluster: {nodes: 10}
        workload: {clients: 4, rate: 160/s, duration: 4s, recovery: 3s}
        checks: [{msgs_per_op: {max: 8}}]
        """),
    Case("gossip_slow", "stable_latency", ">", """\
        cluster: {nodes: 4}
        network: {latency: 5ms}
        workload: {clients: 2, rate: 40/s, duration: 6s, recovery: 5s}
        checks: [{stable_latency: {max: 1500ms}}]
        """),
    Case("vc_deliver_on_arrival", "causal_delivery", "broke causal order",
         SKEWED + "checks: [causal_delivery]\n", "vector_clock"),
    # A graceful stop (SIGTERM) and a restart, which no shipped scenario has: n2 comes
    # back with no memory, and its peers drop its new messages as old ones.
    Case("vc_forgets_on_stop", "delivered_everywhere", "lacks", """\
        cluster: {nodes: 4}
        workload: {clients: 2, rate: 40/s, duration: 4s, recovery: 4s}
        faults: [{at: 1s, stop: n2, duration: 1500ms}]
        checks: [{delivered_everywhere: {within: 3s}}]
        """, "vector_clock"),
    # Reads are the only place the bug shows: more of them, and the history has more causal
    # order to hold them to.
    Case("vc_reads_in_arrival_order", "causal_delivery", "which is in its causal past",
         SKEWED.replace("transfer_ratio: 0.4", "read_ratio: 0.3, transfer_ratio: 0.2")
         + "checks: [causal_delivery]\n", "vector_clock"),
    Case("vc_no_merge", "vector_clocks", "happened-before pair(s) not ordered",
         SKEWED + "checks: [vector_clocks]\n", "vector_clock"),
    Case("vc_scalar_clock", "vector_clocks", "pair(s) ordered that are not",
         SKEWED + "checks: [vector_clocks]\n", "vector_clock"),
    Case("vc_snapshot_no_channels", "snapshots", "in transit across the cut",
         SKEWED + "checks: [snapshots]\n", "vector_clock"),
    Case("txn_no_locks", "isolation", "G2|lost-update", CONTENDED + "checks: [isolation]\n", "txn"),
    # Dirty reads show as reads of aborted or intermediate writes, or as cycles when the
    # writer went on to commit.
    Case("txn_dirty_reads", "isolation", "G1a|G1b|G1c|G2",
         CONTENDED + "checks: [isolation]\n", "txn"),
    # Reads that take no lock but see only committed values, from a node whose state lists
    # no versions: only the client history shows the lost updates and the read skew. More
    # reads than CONTENDED, over a few more keys: transactions that read before they write.
    Case("txn_unlocked_reads", "isolation", "lost-update|G-single|G2", """\
        cluster: {nodes: 3}
        network: {latency: 10ms}
        workload: {clients: 8, rate: 150/s, duration: 4s, recovery: 5s, keys: 6, min_ops: 2,
                   max_ops: 4, read_ratio: 0.6}
        checks: [isolation]
        """, "txn"),
    Case("txn_trigger_happy", "deadlock_handling", "no confirmed cycle names it",
         CONTENDED + "checks: [deadlock_handling]\n", "txn"),
    # Back from its kill, n3 finds prepared but undecided what it had committed, and aborts
    # it: its decisions contradict what the clients were told (first), and the writes are
    # gone from its versions.
    Case("txn_forgets_commits", "atomicity", "acknowledged but lost|was told it committed",
         """\
        cluster: {nodes: 3}
        workload: {clients: 4, rate: 80/s, duration: 5s, recovery: 5s, keys: 12}
        faults: [{at: 2s, kill: n3, duration: 1.5s}]
        checks: [atomicity]
        """, "txn"),
    # Requests to n3 spend 300 ms on the way: prepares that follow an early "ok" are still
    # travelling when n3 is cut off, so their transactions abort after the "ok". Many keys:
    # lock conflicts would only slow everything down and hide the window.
    Case("txn_early_ack", "txn_outcomes", "told ok, but not committed", """\
        cluster: {nodes: 3}
        network: {latency: 2ms, links: [{links: [n1->n3, n2->n3], latency: 300ms}]}
        workload: {clients: 10, rate: 100/s, duration: 6s, recovery: 6s, keys: 300}
        faults: [{at: 2s, every: 1.5s, times: 2, partition: {isolate: n3}, duration: 0.8s}]
        checks: [txn_outcomes]
        """, "txn"),
    # n1 is killed twice: each time the commits it acknowledged in the last 200 ms are not
    # yet in its log, so it presumes them aborted on restart, and so do their waiting
    # participants. The node reports no versions and no node disagrees: only the ties show
    # the outcome the clients were told was not the one decided.
    Case("txn_acks_unlogged", "atomicity", "was told it committed (txn_ok)", """\
        cluster: {nodes: 3, params: {commit_protocol: 2pc}}
        network: {latency: 2ms}
        workload: {clients: 12, rate: 150/s, duration: 6s, recovery: 5s, keys: 300}
        faults: [{at: 2s, every: 2s, times: 2, kill: n1, duration: 1s}]
        checks: [atomicity]
        """, "txn"),
    Case("txn_no_blocking", "blocking", "it did not block", """\
        cluster: {nodes: 3, params: {commit_protocol: 2pc}}
        network: {latency: 2ms, links: [{links: [n1<->n2, n1<->n3], latency: 50ms}]}
        workload: {clients: 24, rate: 300/s, duration: 7s, recovery: 5s, keys: 300}
        faults:
          - {at: 2s, every: 2.5s, times: 2, pause: n1, duration: 0.4s}
          - {at: 2.2s, every: 2.5s, times: 2, kill: n1, duration: 1.5s}
        checks: [blocking]
        """, "txn"),
    Case("txn_no_termination", "termination", "after n1 crashed", """\
        cluster: {nodes: 3, params: {commit_protocol: 3pc}}
        network: {latency: 2ms, links: [{links: [n1<->n2, n1<->n3], latency: 100ms}]}
        workload: {clients: 24, rate: 300/s, duration: 9s, recovery: 5s, keys: 200}
        faults:
          # n1 frozen, then killed: with its links slow, many participants are in doubt.
          # (No message lost: 3PC is only safe with crash faults and bounded delays.)
          - {at: 2s, every: 4s, times: 2, pause: n1, duration: 0.4s}
          - {at: 2.2s, every: 4s, times: 2, kill: n1, duration: 3s}
        checks: [{termination: {within: 2s}}]
        """, "txn"),
    Case("pbft_forgets_prepared", "agreement", "committed different requests", PBFT + """\
        faults:
          # n4 sees no commits for a second: it has requests prepared, not committed, when
          # the primary dies; the new view must carry them.
          - {at: 1s, duration: 1s, message: {drop: 1.0, types: [pbft_commit],
                                             links: {from: [n1, n2, n3], to: [n4]}}}
          - {at: 1.9s, kill: n1}
        checks: [agreement]
        """, "pbft"),
    Case("pbft_small_quorum", "agreement", "committed different requests", """\
        # The primary equivocates: n3 is told one version of each batch, n2 and n4 the
        # other; n3 cannot hear n2 and n4. With quorums of 2f+1, n3 alone never commits.
        cluster: {nodes: 4}
        network: {latency: 1ms}
        workload: {clients: 24, rate: 600/s, duration: 4s, recovery: 4s}
        faults:
          - {at: 1s, partition: {from: [n2, n4], to: [n3]}}
          - {at: 1s, partition: {from: [n3], to: [n2, n4]}}
          - {at: 1s, byzantine: {node: n1, behavior: equivocate}}
        checks: [agreement]
        """, "pbft"),
    Case("pbft_trusts_primary", "agreement", "committed different requests", """\
        # A twin of the primary that hears clients in another order: each side is told
        # its own order. With quorums of 2f+1, n2 (alone with the original) commits none.
        cluster: {nodes: 4, twins: [{node: n1, sees: [n3, n4], reorder: 50ms}]}
        network: {latency: 1ms}
        workload: {clients: 8, rate: 200/s, duration: 4s, recovery: 4s}
        checks: [agreement, validity, linearizable]
        """, "pbft"),
    Case("pbft_no_client_auth", "validity", "a request no client sent", PBFT + """\
        faults: [{at: 1s, byzantine: {node: n1, behavior: invent}}]
        checks: [validity]
        """, "pbft"),
    # n3 and n4 hear n1 and n2 50 ms late, so they execute each request after n1 and n2
    # have answered it: their unordered reads are stale, and the client history shows it
    # (the committed logs would show it too; the client history must, on its own).
    Case("pbft_fast_reads", "linearizable", "client history (observed): not linearizable",
         """\
        cluster: {nodes: 4}
        network:
          latency: 1ms
          links: [{links: [n1->n3, n1->n4, n2->n3, n2->n4], latency: 50ms}]
        workload: {clients: 12, rate: 300/s, duration: 4s, recovery: 4s}
        checks: [linearizable]
        """, "pbft"),
    Case("pbft_no_view_change", "view_change", "never left n1's view", PBFT + """\
        faults: [{at: 1.5s, kill: n1}]
        checks: [{view_change: {within: 2s}}]
        """, "pbft"),
    Case("pbft_no_view_change", "liveness", "no request was accepted", PBFT + """\
        faults: [{at: 1.5s, kill: n1}]
        checks: [{liveness: {within: 3s}}]
        """, "pbft"),
    Case("pbft_no_suspects", "suspects", "never suspected n2", PBFT + """\
        faults: [{at: 1s, byzantine: {node: n2, behavior: forge}}]
        checks: [{suspects: {within: 1s}}]
        """, "pbft"),
    Case("pbft_blames_messenger", "suspects", "which is honest", PBFT + """\
        faults: [{at: 1s, byzantine: {node: n1, behavior: equivocate}}]
        checks: [{suspects: {within: 1s}}]
        """, "pbft"),
    # n3's agent moves a field of one in ten of its messages by one (ByzzFuzz): a forgery
    # an honest replica drops, unless, as here, the signature leaves the slot out.
    Case("pbft_unsigned_slot", "suspects", "which is honest", PBFT + """\
        faults:
          - {at: 1s, duration: 2s, message: {mutate: 0.1, links: {from: [n3], to: [n1, n2, n4]}}}
        checks: [{suspects: {within: 1s}}]
        """, "pbft"),
    # Maelstrom's small workloads (pytest_dchaos/families/maelstrom).
    Case("echo_whole_body", "echo", "came back as", """\
        cluster: {nodes: 1}
        workload: {clients: 1, rate: 20/s, duration: 1s}
        checks: [echo]
        """, "echo"),
    Case("unique_ids_counter", "unique_ids", "handed out again", """\
        cluster: {nodes: 3}
        workload: {clients: 3, rate: 100/s, duration: 2s}
        checks: [unique_ids, availability: 1]
        """, "unique-ids"),
    # n1 restarts halfway: it counts from 1 again.
    Case("unique_ids_forgets_restarts", "unique_ids", "handed out again", """\
        cluster: {nodes: 2}
        workload: {clients: 2, rate: 100/s, duration: 3s}
        faults: [{at: 1.5s, restart: n1}]
        checks: [unique_ids]
        """, "unique-ids"),
    # n3 is cut off for 2 s: what the others send it meanwhile never arrives.
    Case("gcounter_sends_once", "final_count", "read", """\
        cluster: {nodes: 3}
        workload: {clients: 3, rate: 60/s, duration: 4s, recovery: 3s}
        faults: [{at: 1s, partition: {isolate: n3}, duration: 2s}]
        checks: [final_count]
        """, "g-counter"),
    Case("pncounter_max_merge", "final_count", "read", """\
        cluster: {nodes: 3}
        workload: {clients: 3, rate: 60/s, duration: 3s, recovery: 3s}
        checks: [final_count]
        """, "pn-counter"),
    # Challenge 6a's first try: writes applied when the transaction ends, reads from the store.
    Case("txnreg_forgets_own_writes", "isolation", "internal", """\
        cluster: {nodes: 1}
        workload: {clients: 2, rate: 200/s, duration: 2s, recovery: 1s}
        checks: [{isolation: {model: read-uncommitted}}, {availability: 1}]
        """, "txn-rw-register"),
    # 6c: a transaction's first write to a key replicated and kept, its second ignored.
    Case("txnreg_replicates_every_write", "isolation", "G1b", """\
        cluster: {nodes: 2}
        workload: {clients: 4, rate: 300/s, duration: 3s, recovery: 1s}
        checks: [{isolation: {model: read-committed}}, {availability: 1}]
        """, "txn-rw-register"),
    # Writes through one node, reads from each node's copy: stale while replication lags.
    Case("linkv_local_reads", "linearizable", "not linearizable", """\
        cluster: {nodes: 3}
        network: {latency: 5ms}
        workload: {clients: 6, rate: 100/s, duration: 3s, recovery: 1s}
        checks: [linearizable]
        """, "lin-kv"),
]


def run(case: Case, tmp_path: Path, node_command: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    text = (f"name: {case.node}\nprotocol: {case.protocol}\nseed: 13\n"
            + textwrap.dedent(case.scenario))
    registry = Registry()
    scenario = parse_scenario(text, str(tmp_path / "scenario.yaml"), registry)
    options = RunOptions(report_dir=tmp_path / "report", node_command=node_command,
                         toxiproxy="embedded")
    return run_scenario(scenario, options, registry)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.node for c in CASES])
def test_checker_catches_the_broken_node(case: Case, tmp_path: Path, no_leaks: None) -> None:
    result = run(case, tmp_path, (sys.executable, str(BROKEN / f"{case.node}.py")))
    verdict = result.check(case.check)
    assert not verdict.passed, f"{case.check} missed {case.node}: {verdict.detail}"
    assert any(e in verdict.detail for e in case.expected.split("|")), verdict.detail
    assert result.check("node_contract").passed, "the broken node must only break one thing"


def _by_scenario(cases: list[Case]) -> dict[tuple[str, str], list[Case]]:
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.protocol, case.scenario), []).append(case)
    return groups


#: One reference run per distinct scenario: cases that share one share its reference run.
SHARED = _by_scenario(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", [group[0] for group in SHARED.values()],
                         ids=["+".join(c.node for c in group) for group in SHARED.values()])
def test_reference_node_passes_the_same_scenario(case: Case, tmp_path: Path,
                                                 no_leaks: None) -> None:
    result = run(case, tmp_path, None)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
