"""The in-memory router's own API (pytest_dchaos.testing.router); the reference nodes' tests
use the rest of it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.testing import Router, eventually, full_topology
from pytest_dchaos.testing.fixtures import RouterFactory

ECHO = Path(__file__).resolve().parents[1] / "nodes" / "echo_node.py"


def test_each_node_runs_in_its_own_folder(dchaos_router: RouterFactory) -> None:
    router = dchaos_router([sys.executable, str(ECHO)], 2, params={"x": 1})
    for node in router.node_ids:
        assert (router.folder(node) / "stderr.log").exists()
    assert router.folder("n1") != router.folder("n2")
    assert router.init_body("n2") == {"type": "init", "node_id": "n2",
                                      "node_ids": ["n1", "n2"], "dchaos": {"params": {"x": 1}}}


def test_calls_in_flight_and_what_nodes_write(tmp_path: Path, no_leaks: None) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with Router(["n1", "n2"], [sys.executable, str(ECHO)], log_dir=tmp_path,
                on_message=lambda node, message: seen.append((node, message))) as router:
        router.start()
        first = router.send("n1", {"type": "echo", "echo": 1})
        second = router.send("n2", {"type": "echo", "echo": 2}, src="c7")
        assert second.msg_id == first.msg_id + 1
        reply = second.wait(5)
        assert reply is not None and reply["src"] == "n2" and reply["dest"] == "c7"
        assert reply["body"]["echo"] == 2 and second.replied_at is not None
        assert first.wait(5) is not None
        router.rpc("n1", {"type": "relay", "to": "n2", "value": 9})
        eventually(lambda: _seen_by(router, "n2", [9]), 5)
        # A node-to-node message passes the observer too, on its way.
        assert ("n1", {"src": "n1", "dest": "n2", "body": {"type": "relayed", "value": 9}}) \
            in seen


def _seen_by(router: Router, node: str, values: list[int]) -> None:
    assert router.rpc(node, {"type": "seen"})["values"] == values


def test_an_abandoned_call_leaves_its_reply_unclaimed(
        no_leaks: None, dchaos_router: RouterFactory) -> None:
    router = dchaos_router([sys.executable, str(ECHO)], 1)
    router.pause("n1")
    call = router.send("n1", {"type": "echo", "echo": "late"})
    assert call.wait(0.2) is None
    call.abandon()
    router.resume("n1")
    eventually(lambda: _unclaimed(router, "late"), 5)
    with pytest.raises(TimeoutError, match=r"n1 did not answer echo within 0\.2s"):
        router.pause("n1")
        try:
            router.rpc("n1", {"type": "echo"}, timeout=0.2)
        finally:
            router.resume("n1")


def _unclaimed(router: Router, echo: str) -> None:
    assert any(body.get("echo") == echo for body in router.unclaimed), router.unclaimed


def test_a_node_that_exits_has_its_status(dchaos_router: RouterFactory) -> None:
    router = dchaos_router([sys.executable, str(ECHO)], 1)
    assert router.returncode("n1") is None
    router.send("n1", {"type": "crash"})
    eventually(lambda: _exited(router, 3), 5)
    assert router.live() == []


def _exited(router: Router, status: int) -> None:
    assert router.returncode("n1") == status


def test_topology_only_when_given(dchaos_router: RouterFactory) -> None:
    # A node that answers only init and echo would fail set-up if it were sent topology.
    node = [sys.executable, "-c", ECHO_WITHOUT_TOPOLOGY]
    router = dchaos_router(node, 2)
    assert router.rpc("n1", {"type": "echo", "echo": 1})["echo"] == 1
    with pytest.raises(AssertionError, match="answered topology with"):
        dchaos_router(node, 2, topology=full_topology(["n1", "n2"]))


ECHO_WITHOUT_TOPOLOGY = """
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = "init_ok" if body["type"] == "init" else "echo_ok" if body["type"] == "echo" \\
        else "error"
    out = {"type": kind, "in_reply_to": body["msg_id"], "echo": body.get("echo"), "code": 10}
    print(json.dumps({"src": msg["dest"], "dest": msg["src"], "body": out}), flush=True)
"""


def test_nodes_reach_maelstroms_services_even_when_cut_off(tmp_path: Path,
                                                           no_leaks: None) -> None:
    """A g-counter kept in seq-kv (tests/nodes/service_node.py): every add counts, and a node
    partitioned from every peer still reaches the service, as in Maelstrom."""
    counter = Path(__file__).resolve().parents[1] / "nodes" / "service_node.py"
    with Router(["n1", "n2", "n3"], [sys.executable, str(counter), "counter"], log_dir=tmp_path,
                latency=0.001) as router:
        router.start()
        router.partition(["n1"], ["n2", "n3"])
        calls = [router.send(node, {"type": "add", "delta": delta})
                 for delta in range(1, 8) for node in router.node_ids]
        assert all((reply := call.wait(10)) and reply["body"]["type"] == "add_ok"
                   for call in calls)
        assert [router.rpc(n, {"type": "read"})["value"] for n in router.node_ids] == [84] * 3
        assert router.sent["cas"] == 0  # service traffic is not node-to-node traffic
