"""The vector-clock reference node as one real process, fed messages by hand.

Peers are played by the test: it writes the messages n2 and n3 would send, in whatever
order it likes, and reads what the node answers and sends. The node runs in its own
folder, where it keeps its event log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT

NODES = ["n1", "n2", "n3"]


class OneNode:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.next_id = 1

    def start(self) -> OneNode:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reference_nodes.vector_clock"], cwd=self.folder,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        assert self.ask({"type": "init", "node_id": "n1", "node_ids": NODES})["type"] \
            == "init_ok"
        return self

    def write(self, src: str, body: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        line = json.dumps({"src": src, "dest": "n1", "body": body}) + "\n"
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        """A client request; the node's messages to peers meanwhile are skipped."""
        msg_id, self.next_id = self.next_id, self.next_id + 1
        self.write("c1", {**body, "msg_id": msg_id})
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, "the node exited"
            msg = json.loads(line)
            if msg["dest"] == "c1" and msg["body"].get("in_reply_to") == msg_id:
                return dict(msg["body"])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[OneNode]:
    one = OneNode(tmp_path).start()
    yield one
    one.kill()


def cbcast(origin: str, seq_b: int, deps: dict[str, int], vc: dict[str, int], channel_seq: int,
           message: Any) -> dict[str, Any]:
    return {"type": "vc_cbcast", "what": "cbcast", "origin": origin, "seq_b": seq_b,
            "deps": deps, "message": message, "vc": vc, "seq": channel_seq,
            "msg_id": 100 + channel_seq}


def delivered(node: OneNode) -> list[Any]:
    return [d["message"] for d in node.ask({"type": "read"})["delivered"]]


def test_a_broadcast_waits_for_its_causal_past(node: OneNode) -> None:
    # n3 answers n2's broadcast "a" with "b"; "b" reaches n1 first and must wait for "a".
    node.write("n3", cbcast("n3", 1, {"n2": 1}, {"n2": 2, "n3": 3}, 1, "b"))
    assert delivered(node) == []
    node.write("n2", cbcast("n2", 1, {}, {"n2": 2}, 1, "a"))
    assert delivered(node) == ["a", "b"]


def test_an_own_broadcast_is_delivered_at_once_with_its_clock(node: OneNode) -> None:
    reply = node.ask({"type": "cbcast", "message": 5})
    assert reply["type"] == "cbcast_ok" and reply["vc"] == {"n1": 2}  # after "start"
    assert node.ask({"type": "read"})["delivered"] == [
        {"message": 5, "sender": "n1", "vc": {"n1": 2}}]


def test_a_receive_merges_the_senders_clock(node: OneNode) -> None:
    node.write("n2", cbcast("n2", 1, {}, {"n2": 7, "n3": 4}, 1, "a"))
    vc = node.ask({"type": "cbcast", "message": "b"})["vc"]
    assert vc["n2"] == 7 and vc["n3"] == 4 and vc["n1"] > 1


def test_transfers_move_units_and_refuse_a_short_balance(node: OneNode) -> None:
    assert node.ask({"type": "transfer", "to": "n2", "amount": 30})["balance"] == 70
    refused = node.ask({"type": "transfer", "to": "n2", "amount": 71})
    assert refused["type"] == "error" and refused["code"] == 22
    malformed = node.ask({"type": "transfer", "to": "n1", "amount": 1})
    assert malformed["type"] == "error" and malformed["code"] == 12


def test_a_restarted_node_replays_its_log_even_with_a_torn_last_line(tmp_path: Path) -> None:
    first = OneNode(tmp_path).start()
    first.ask({"type": "cbcast", "message": "kept"})
    first.ask({"type": "transfer", "to": "n3", "amount": 10})
    clock = first.ask({"type": "dchaos_state"})["vc"]
    first.kill()
    with open(tmp_path / "events.jsonl", "a", encoding="utf-8") as log:
        log.write('{"i": 99, "vc": {"n1"')  # the process died writing this
    second = OneNode(tmp_path).start()
    try:
        state = second.ask({"type": "dchaos_state"})
        assert delivered(second) == ["kept"]
        assert state["balance"] == 90
        assert state["vc"]["n1"] == clock["n1"] + 1  # the log goes on: one new "start"
        assert [e["i"] for e in state["events"]] == list(range(1, clock["n1"] + 2))
        assert state["in_flight"] == 3  # nobody acknowledged: resent after the restart
        second.ask({"type": "cbcast", "message": "after"})
    finally:
        second.kill()
    # The torn bytes are gone, not glued to the second life's first event: a third life
    # replays both lives.
    third = OneNode(tmp_path).start()
    try:
        assert delivered(third) == ["kept", "after"]
        assert third.ask({"type": "dchaos_state"})["balance"] == 90
    finally:
        third.kill()


def test_malformed_peer_messages_are_logged_and_ignored(node: OneNode) -> None:
    node.write("n2", {"type": "vc_cbcast", "seq": 1, "msg_id": 1, "what": "cbcast"})
    node.write("n2", {"type": "vc_transfer", "seq": "x"})
    assert node.ask({"type": "read"})["type"] == "read_ok"
