"""The local backend end to end with a minimal node: agents, links, faults, process control.

Each test starts a real cluster (agents, nodes, the embedded Toxiproxy server) and checks
an effect that only the real components can show: a message crossing a proxy, a cut link
losing it, a one-way cut losing one direction only, a killed node refusing requests.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dchaos.errors import NodeDown, RpcTimeout
from pytest_dchaos.faults.base import FaultEnv
from pytest_dchaos.faults.process import Kill, Pause, Restart
from pytest_dchaos.manual import LiveCluster, start_cluster
from pytest_dchaos.record.history import TAKEN_DOWN
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

ECHO = (sys.executable, str(Path(__file__).parent.parent / "nodes" / "echo_node.py"))


@pytest.fixture
def cluster(tmp_path: Path, no_leaks: None) -> Iterator[LiveCluster]:
    live = start_cluster(nodes=3, topology="none", node_command=ECHO,
                         options=RunOptions(report_dir=tmp_path, toxiproxy="embedded"))
    with live:
        yield live


def relayed(cluster: LiveCluster, node: str) -> list[int]:
    return cluster.request(node, {"type": "seen"})["values"]


def eventually(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_client_request_and_node_to_node_message(cluster: LiveCluster) -> None:
    assert cluster.request("n1", {"type": "echo", "echo": "hi"})["echo"] == "hi"
    cluster.request("n1", {"type": "relay", "to": "n2", "value": 7})
    assert eventually(lambda: relayed(cluster, "n2") == [7])


def test_multicast_gives_each_copy_its_id_and_hands_over_every_reply(
        cluster: LiveCluster) -> None:
    replies: list[tuple[str, dict[str, object]]] = []
    cluster.cluster.kill("n3")
    sending = cluster.cluster.multicast(("n1", "n2", "n3"), {"type": "echo", "echo": "all"},
                                        client="c7", on_reply=lambda n, b: replies.append((n, b)))
    assert sending.reached == ["n1", "n2"]  # n3 is down: not sent, not waited for
    assert eventually(lambda: len(replies) == 2)
    assert sorted(n for n, _ in replies) == ["n1", "n2"]
    assert {b["echo"] for _, b in replies} == {"all"}
    assert sorted(b["in_reply_to"] for _, b in replies) == sorted(sending.msg_ids)
    assert len(set(sending.msg_ids)) == 2
    cluster.cluster.flush_traces()
    delivered = [json.loads(line) for line in
                 (cluster.cluster.node_dir("n1") / "trace.jsonl").read_text().splitlines()]
    assert {"ev": "client_in", "src": "c7", "type": "echo"}.items() <= next(
        e for e in delivered if e["src"] == "c7").items()


def test_an_abandoned_multicast_ignores_late_replies(cluster: LiveCluster) -> None:
    replies: list[str] = []
    cluster.cluster.pause("n1")
    sending = cluster.cluster.multicast(("n1", "n2"), {"type": "echo", "echo": 1},
                                        client="c8", on_reply=lambda n, b: replies.append(n))
    assert eventually(lambda: replies == ["n2"])
    sending.abandon(cluster.cluster)
    cluster.cluster.resume("n1")
    assert cluster.request("n1", {"type": "echo", "echo": "after"})["echo"] == "after"
    assert replies == ["n2"]


def test_trace_records_every_message(cluster: LiveCluster) -> None:
    cluster.request("n1", {"type": "relay", "to": "n3", "value": 1})
    assert eventually(lambda: relayed(cluster, "n3") == [1])
    cluster.cluster.flush_traces()
    sent = [json.loads(line) for line in
            (cluster.cluster.node_dir("n1") / "trace.jsonl").read_text().splitlines()]
    received = [json.loads(line) for line in
                (cluster.cluster.node_dir("n3") / "trace.jsonl").read_text().splitlines()]
    send = next(e for e in sent if e["ev"] == "send" and e["type"] == "relayed")
    recv = next(e for e in received if e["ev"] == "recv" and e["type"] == "relayed")
    assert (send["src"], send["dest"]) == ("n1", "n3")
    assert recv["id"] == send["id"]
    assert recv["t"] >= send["t"]


def test_a_node_may_pass_a_clients_request_on_to_another_node(cluster: LiveCluster) -> None:
    # Maelstrom lets a node forward a client's message unchanged; the other node answers
    # the client itself, and the trace shows the hop as n2's, made for c1.
    reply = cluster.request("n2", {"type": "forward", "to": "n1"})
    assert (reply["type"], reply["by"]) == ("forward_ok", "n1")
    cluster.cluster.flush_traces()
    events = [json.loads(line) for line in
              (cluster.cluster.node_dir("n2") / "trace.jsonl").read_text().splitlines()]
    hop = next(e for e in events if e["ev"] == "send" and e["type"] == "forward")
    assert (hop["src"], hop["dest"], hop["as"]) == ("n2", "n1", "c1")


def test_a_node_cannot_speak_as_another_node(cluster: LiveCluster) -> None:
    # Channels are authenticated: n2 may relay for a client that wrote to it, never claim
    # to be n3.
    cluster.request("n2", {"type": "impersonate", "as": "n3", "to": "n1"})
    # Dropped and reported: the report comes from n2's agent once it has seen the line.
    assert eventually(lambda: any(i.node == "n2" and i.kind == "bad_output"
                                  for i in cluster.cluster.incidents))
    assert -1 not in relayed(cluster, "n1")


def test_partition_loses_messages_until_healed(cluster: LiveCluster) -> None:
    with cluster.partitioned(["n1"], ["n2", "n3"]):
        cluster.request("n1", {"type": "relay", "to": "n2", "value": 1})
        cluster.request("n2", {"type": "relay", "to": "n3", "value": 2})
        assert eventually(lambda: relayed(cluster, "n3") == [2])
        assert relayed(cluster, "n2") == []
    cluster.request("n1", {"type": "relay", "to": "n2", "value": 3})
    assert eventually(lambda: relayed(cluster, "n2") == [3])


def test_one_way_cut_loses_one_direction_only(cluster: LiveCluster) -> None:
    key = cluster.cut([("n1", "n2")])
    cluster.request("n1", {"type": "relay", "to": "n2", "value": 1})
    cluster.request("n2", {"type": "relay", "to": "n1", "value": 2})
    assert eventually(lambda: relayed(cluster, "n1") == [2])
    time.sleep(0.2)
    assert relayed(cluster, "n2") == []
    cluster.revert(key)
    cluster.request("n1", {"type": "relay", "to": "n2", "value": 3})
    assert eventually(lambda: relayed(cluster, "n2") == [3])


def test_latency_delays_messages(cluster: LiveCluster) -> None:
    cluster.slow(0.3, links=[("n1", "n2")])
    start = time.monotonic()
    cluster.request("n1", {"type": "relay", "to": "n2", "value": 1})
    assert eventually(lambda: relayed(cluster, "n2") == [1])
    assert time.monotonic() - start >= 0.28


def test_message_rules_drop_and_duplicate(cluster: LiveCluster) -> None:
    key = cluster.lose(drop=1.0, links=[("n1", "n2")])
    for value in range(5):
        cluster.request("n1", {"type": "relay", "to": "n2", "value": value})
    time.sleep(0.2)
    assert relayed(cluster, "n2") == []
    cluster.revert(key)
    cluster.lose(duplicate=1.0, links=[("n1", "n3")])
    cluster.request("n1", {"type": "relay", "to": "n3", "value": 9})
    assert eventually(lambda: relayed(cluster, "n3") == [9, 9])


def test_kill_pause_resume_restart(cluster: LiveCluster) -> None:
    cluster.kill("n2")
    assert cluster.cluster.status("n2") == "down"
    with pytest.raises(NodeDown):
        cluster.request("n2", {"type": "echo", "echo": 1})
    cluster.restart("n2")
    assert cluster.request("n2", {"type": "echo", "echo": 2})["echo"] == 2
    cluster.pause("n3")
    with pytest.raises(RpcTimeout):
        cluster.request("n3", {"type": "echo", "echo": 3}, timeout=0.3)
    cluster.resume("n3")
    assert cluster.request("n3", {"type": "echo", "echo": 4})["echo"] == 4


def test_overlapping_pauses_and_kills_of_a_node_hold_it_until_the_last_ends(
        cluster: LiveCluster) -> None:
    # As the fault timeline has it, and so every checker: explore draws faults on one node
    # independently, and the first pause's end must not wake a node the second still holds.
    live = cluster.cluster
    pause, kill, restart = Pause(), Kill(), Restart()
    first, second = FaultEnv(live, "f1"), FaultEnv(live, "f2")
    pause.start(("n3",), first)
    pause.start(("n3",), second)
    pause.stop(("n3",), first)
    assert live.status("n3") == "paused"
    restart.start(("n3",), FaultEnv(live, "f3"))  # a frozen node is not woken to restart
    assert live.status("n3") == "paused"
    pause.stop(("n3",), second)
    assert cluster.request("n3", {"type": "echo", "echo": 1})["echo"] == 1

    # A pause that begins while a kill holds the node down: it comes back when both end.
    kill.start(("n1",), first)
    pause.start(("n1",), second)
    kill.stop(("n1",), first)
    assert live.status("n1") == "down"
    pause.stop(("n1",), second)
    assert cluster.request("n1", {"type": "echo", "echo": 0})["echo"] == 0

    kill.start(("n2",), first)
    kill.start(("n2",), second)
    kill.stop(("n2",), first)
    assert live.status("n2") == "down"
    restart.start(("n2",), FaultEnv(live, "f4"))  # a kill with a duration still holds it
    assert live.status("n2") == "down"
    kill.stop(("n2",), second)
    assert cluster.request("n2", {"type": "echo", "echo": 2})["echo"] == 2


def test_graceful_stop_then_restart(cluster: LiveCluster) -> None:
    cluster.cluster.stop("n1", grace=2.0)
    assert cluster.cluster.status("n1") == "down"
    with pytest.raises(NodeDown):
        cluster.request("n1", {"type": "echo", "echo": 1})
    # A node that ignores SIGTERM is killed once the grace is over.
    cluster.request("n2", {"type": "ignore_term"})
    started = time.monotonic()
    cluster.cluster.stop("n2", grace=0.5)
    assert 0.4 < time.monotonic() - started < 3
    cluster.restart("n1")
    cluster.restart("n2")
    assert cluster.request("n2", {"type": "echo", "echo": 2})["echo"] == 2
    assert cluster.cluster.incidents == [], "a stop asked for is no crash"


def test_unexpected_crash_is_an_incident(cluster: LiveCluster) -> None:
    cluster.cluster.submit("n1", {"type": "crash"})
    assert eventually(lambda: cluster.cluster.status("n1") == "down")
    assert [i.kind for i in cluster.cluster.incidents] == ["crash"]
    assert "exit code 3" in cluster.cluster.incidents[0].detail
    # A request to it is refused as not delivered, and not as the harness's doing (its
    # loss counts against the node); to a node the harness killed, it is the harness's.
    with pytest.raises(NodeDown) as fell:
        cluster.cluster.submit("n1", {"type": "echo", "echo": 1}).result(5)
    assert not fell.value.by_harness
    cluster.kill("n2")
    with pytest.raises(NodeDown) as killed:
        cluster.cluster.submit("n2", {"type": "echo", "echo": 1}).result(5)
    assert killed.value.by_harness
    cluster.restart("n1")  # back: its next fall would be its own again, its last forgotten
    assert cluster.request("n1", {"type": "echo", "echo": 2})["echo"] == 2


def test_a_line_cut_short_by_a_kill_is_no_contract_breach(cluster: LiveCluster) -> None:
    # A restart's SIGKILL can land while a node writes a message: what it wrote of it is
    # lost, as a message on a wire would be, and the node has not printed garbage.
    cluster.cluster.submit("n1", {"type": "half"})
    time.sleep(0.2)
    cluster.kill("n1")
    cluster.restart("n1")
    assert cluster.request("n1", {"type": "echo", "echo": 1})["echo"] == 1
    assert cluster.cluster.incidents == []
    cluster.cluster.flush_traces()
    trace = (cluster.cluster.node_dir("n1") / "trace.jsonl").read_text()
    assert "its output ended in the middle of a line" in trace


def test_a_last_message_without_newline_is_carried(cluster: LiveCluster) -> None:
    assert cluster.request("n2", {"type": "bye"})["type"] == "bye_ok"
    assert eventually(lambda: cluster.cluster.status("n2") == "down")
    assert [i.kind for i in cluster.cluster.incidents] == ["crash"]  # it exited unasked


def test_a_vector_clock_cluster_driven_by_hand_keeps_causal_order(tmp_path: Path,
                                                                 no_leaks: None) -> None:
    # n2 answers n1's message while n3 is cut off from n1 only: n3 gets the answer first
    # (from n2) and must hold it back until n1's message reaches it after the heal.
    options = RunOptions(report_dir=tmp_path, toxiproxy="embedded")
    with start_cluster(protocol="vector_clock", nodes=3, options=options,
                       params={"retransmit_ms": 50}) as live:
        cut = live.cut([("n1", "n3")])
        first = live.request("n1", {"type": "cbcast", "message": "question"})
        assert eventually(lambda: [d["message"] for d in live.request(
            "n2", {"type": "read"})["delivered"]] == ["question"])
        answer = live.request("n2", {"type": "cbcast", "message": "answer"})
        assert all(answer["vc"].get(n, 0) >= c for n, c in first["vc"].items())
        time.sleep(0.3)
        assert live.request("n3", {"type": "read"})["delivered"] == []  # held back
        live.revert(cut)
        assert eventually(lambda: [d["message"] for d in live.request(
            "n3", {"type": "read"})["delivered"]] == ["question", "answer"])


@pytest.mark.slow
def test_a_restarted_node_gets_init_before_any_client_request(
        tmp_path: Path, no_leaks: None) -> None:
    """Maelstrom never sends a node a request before its init. Here, while n1 restarts, the
    clients' requests to it are refused (the operation fails: it never reached the node)
    until it answered init, so the reference node never answers one with error 11."""
    registry = Registry()
    scenario = parse_scenario(textwrap.dedent("""\
        name: restart-under-load
        protocol: unique-ids
        cluster: {nodes: 2}
        workload: {clients: 4, rate: 400/s, duration: 3s}
        faults: [{at: 1s, restart: n1}, {at: 2s, restart: n1}]
        checks: [unique_ids, {availability: 1}]
        seed: 1
        """), str(tmp_path / "scenario.yaml"), registry)
    result = run_scenario(scenario, RunOptions(report_dir=tmp_path / "report",
                                               toxiproxy="embedded"), registry)
    assert result.passed, [(v.name, v.detail) for v in result.checks]
    assert result.record is not None
    errors = [op.error or "" for op in result.record.history.ops if op.type == "fail"]
    assert not any(e.startswith("error 11") for e in errors), errors
    assert any("is starting" in e or "is not running" in e for e in errors), errors
    # Every operation lost to a restart says the harness had the node down, and so
    # availability, Maelstrom's total one, does not hold it against the node.
    assert all(e.startswith(TAKEN_DOWN) for e in errors), errors
    availability = next(v for v in result.checks if v.name == "availability")
    assert availability.figures["out_of_reach"] == len(errors) > 0
