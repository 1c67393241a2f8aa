"""The PBFT replica as processes: requests, bad input, state transfer and view changes.

Four replicas run under the test router (no agents); the test is the client, sending each
request with its MAC authenticator to every replica and taking f+1 matching replies.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.families.pbft.client import PbftWorkload, key_material
from pytest_dchaos.testing import Router, eventually
from reference_nodes.pbft.byzantine import Behaviour
from reference_nodes.pbft.crypto import (
    Keys,
    batch_digest,
    batch_order,
    canonical,
    request_core,
)
from reference_nodes.pbft.node import Replica
from reference_nodes.pbft.ordering import Ordering

NODES = ("n1", "n2", "n3", "n4")
COMMAND = ("python3", "-m", "reference_nodes.pbft")
SEED = 5
CLIENTS = ["c1", "c2"]
PARAMS = {"checkpoint_interval": 4, "view_change_timeout_ms": 300}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Router]:
    with Router(NODES, log_dir=tmp_path, command=COMMAND, params=PARAMS,
                init_extra=lambda node: {"pbft": key_material(SEED, node, NODES, CLIENTS)}
                ) as router:
        yield router.start()


class Client:
    def __init__(self, router: Router, name: str = "c1") -> None:
        self.router, self.name, self.timestamp = router, name, 0
        self.workload = PbftWorkload(8, 0.5, 0.2, 1.0, SEED)

    def body(self, f: str, **fields: Any) -> dict[str, Any]:
        self.timestamp += 1
        request = self.workload.request(f, {**fields, "client": self.name,
                                            "timestamp": self.timestamp})
        return self.workload.authenticated(request, NODES)

    def call(self, f: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send to every live replica; the result f+1 = 2 of them agree on."""
        body = self.body(f, **fields)
        return self.send(body, timeout)

    def send(self, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        def ask(node: str) -> dict[str, Any] | None:
            try:
                return self.router.rpc(node, body, timeout=timeout, src=self.name)
            except TimeoutError:
                return None

        live = [n for n in NODES if self.router.alive(n)]
        with ThreadPoolExecutor(len(live)) as pool:
            replies = [r for r in pool.map(ask, live) if r is not None]
        votes = Counter(json.dumps(r.get("result"), sort_keys=True) for r in replies
                        if r.get("type") == "reply" and r.get("timestamp") == body["timestamp"])
        result, count = votes.most_common(1)[0] if votes else (None, 0)
        assert count >= 2, f"no f+1 matching replies: {replies}"
        return json.loads(result)  # type: ignore[arg-type]


def state(router: Router, node: str) -> dict[str, Any]:
    reply = router.rpc(node, {"type": "dchaos_state"})
    assert reply["type"] == "dchaos_state_ok", reply
    return reply


def test_requests_are_executed_in_one_order_everywhere(cluster: Router) -> None:
    client = Client(cluster)
    assert client.call("read", key=1) == {"type": "error", "code": 20,
                                          "text": "key 1 does not exist"}
    assert client.call("write", key=1, value=3) == {"type": "write_ok"}
    assert client.call("cas", key=1, **{"from": 2, "to": 4})["code"] == 22
    assert client.call("cas", key=1, **{"from": 3, "to": 4}) == {"type": "cas_ok"}
    assert client.call("read", key=1) == {"type": "read_ok", "value": 4}

    def same_logs() -> None:
        logs = [state(cluster, n)["committed"] for n in NODES]
        assert len(logs[0]) == 5 and all(log == logs[0] for log in logs), logs
    eventually(same_logs, 5)
    assert state(cluster, "n2")["stable_checkpoint"] == 4  # checkpoint every 4


def test_a_retransmitted_request_is_answered_not_executed_again(cluster: Router) -> None:
    client = Client(cluster)
    body = client.body("write", key=1, value=1)
    first = client.send(body)
    assert client.send(body) == first
    eventually(lambda: _assert_equal(len(state(cluster, "n1")["committed"]), 1), 5)


def _assert_equal(a: Any, b: Any) -> None:
    assert a == b, (a, b)


def test_a_request_with_a_wrong_mac_is_dropped_and_counted(cluster: Router) -> None:
    client = Client(cluster)
    body = client.body("write", key=1, value=1)
    body["auth"] = {n: "00" * 32 for n in NODES}
    with pytest.raises(TimeoutError):
        cluster.rpc("n1", body, timeout=1)
    assert state(cluster, "n1")["counters"]["bad_request_auth"] == 1
    assert client.call("read", key=1)["code"] == 20  # nothing was written


def test_a_checked_authenticator_does_not_vouch_for_another_request() -> None:
    # A replica remembers the MACs it checked; a request that reuses one on other content
    # (a Byzantine primary's forgery) must still fail, and digests must not change.
    keys = Keys("n2", key_material(SEED, "n2", NODES, CLIENTS))
    workload = PbftWorkload(8, 0.5, 0.2, 1.0, SEED)

    def request(timestamp: int, f: str, **fields: Any) -> dict[str, Any]:
        value = {**fields, "client": "c1", "timestamp": timestamp}
        return workload.authenticated(workload.request(f, value), NODES)

    real = request(1, "write", key=1, value=1)
    forged = {**real, "op": {**real["op"], "value": 666}}
    assert not keys.authentic_request(forged)
    assert keys.authentic_request(real) and keys.authentic_request(real)  # the second: cached
    assert not keys.authentic_request(forged)
    assert keys.core_bytes(real) == canonical(request_core(real))
    assert keys.core_bytes(forged) == canonical(request_core(forged))
    batch = [real, request(2, "read", key=2)]
    assert keys.batch_digest(batch) == batch_digest(batch)


@pytest.mark.parametrize("body", [
    {"type": "pbft_prepare", "view": "x"},
    {"type": "pbft_commit", "view": 0, "seq": 1, "digest": "d", "replica": "n9"},
    {"type": "pbft_view_change", "view": 1},
    {"type": "pbft_new_view", "view": 1, "view_changes": [], "preprepares": [],
     "replica": "n2", "sig": "zz"},
])
def test_malformed_and_forged_messages_are_counted_never_fatal(cluster: Router,
                                                                body: dict[str, Any]) -> None:
    line = json.dumps({"src": "n2", "dest": "n1", "body": body}).encode()
    cluster.send_line("n1", line)
    eventually(lambda: _assert_dropped(state(cluster, "n1")), 5)
    assert Client(cluster).call("write", key=1, value=1) == {"type": "write_ok"}


def _assert_dropped(st: dict[str, Any]) -> None:
    assert st["counters"].get("malformed", 0) + st["counters"].get("bad_signature", 0) == 1, st


def test_a_bad_signature_makes_its_sender_a_suspect(cluster: Router) -> None:
    forged = {"type": "pbft_commit", "view": 0, "seq": 1, "digest": "ab" * 32,
              "replica": "n2", "sig": "00" * 64}
    cluster.send_line("n3", json.dumps({"src": "n2", "dest": "n3", "body": forged}).encode())
    st = eventually(lambda: _suspects(state(cluster, "n3"), ["n2"]), 5)
    (evidence,) = st["evidence"]["n2"]
    assert evidence["kind"] == "bad_signature" and evidence["proof"]["sig"] == "00" * 64


def test_a_late_vote_is_dropped_unchecked_only_when_it_agrees(cluster: Router) -> None:
    client = Client(cluster)
    assert client.call("write", key=1, value=1) == {"type": "write_ok"}
    eventually(lambda: _assert_equal(state(cluster, "n3")["last_executed"], 1), 5)
    digest = state(cluster, "n3")["committed"][0][1]
    late = {"type": "pbft_commit", "view": 0, "seq": 1, "replica": "n2", "sig": "00" * 64}
    # Agreeing with seq 1's committed digest: it could change nothing, so it is not checked.
    cluster.send_line("n3", json.dumps({"src": "n2", "dest": "n3",
                                        "body": {**late, "digest": digest}}).encode())
    # Disagreeing: it is checked, and its bad signature found.
    cluster.send_line("n3", json.dumps({"src": "n2", "dest": "n3",
                                        "body": {**late, "digest": "ab" * 32}}).encode())
    st = eventually(lambda: _suspects(state(cluster, "n3"), ["n2"]), 5)
    assert [e["kind"] for e in st["evidence"]["n2"]] == ["bad_signature"]
    assert st["evidence"]["n2"][0]["proof"]["digest"] == "ab" * 32
    assert st["counters"]["late_votes_unchecked"] >= 1


def _suspects(st: dict[str, Any], expected: list[str]) -> dict[str, Any]:
    assert st["suspects"] == expected, st["suspects"]
    return st


def test_an_unknown_behaviour_is_refused(cluster: Router) -> None:
    reply = cluster.rpc("n1", {"type": "dchaos_byzantine", "behavior": "chaotic"})
    assert reply["type"] == "error" and reply["code"] == 12
    assert "must be one of honest, silent" in reply["text"]


def test_bad_key_material_fails_init(tmp_path: Path) -> None:
    with Router(("n1",), log_dir=tmp_path, command=COMMAND,
                init_extra=lambda node: {"pbft": {"private": "nothex", "public": {}}}
                ) as router:
        router.start(setup=False)
        reply = router.rpc("n1", {"type": "init", "node_id": "n1", "node_ids": ["n1"],
                                  "dchaos": {"pbft": {"private": "nothex", "public": {}}}},
                           timeout=10, src="c0")
    assert reply["type"] == "error" and reply["code"] == 12
    assert "dchaos.pbft: private is not a hex string" in reply["text"]


def test_a_crashed_primary_is_replaced(cluster: Router) -> None:
    client = Client(cluster)
    client.call("write", key=1, value=1)
    cluster.kill("n1")
    assert client.call("write", key=1, value=2, timeout=8) == {"type": "write_ok"}
    assert client.call("read", key=1, timeout=8) == {"type": "read_ok", "value": 2}
    for node in ("n2", "n3", "n4"):
        st = state(cluster, node)
        assert st["view"] >= 1 and st["primary"] != "n1", st["view"]
        assert "n1" in st["suspects"]


@pytest.mark.slow
def test_a_restarted_replica_catches_up_by_state_transfer(cluster: Router) -> None:
    client = Client(cluster)
    cluster.kill("n4")
    for value in range(10):
        client.call("write", key=value % 3, value=value)
    cluster.restart("n4")
    for value in range(10, 20):  # enough for the next checkpoints to be certified
        client.call("write", key=value % 3, value=value)

    def caught_up() -> dict[str, Any]:
        st = state(cluster, "n4")
        assert st["transfers"] and st["last_executed"] == state(cluster, "n1")["last_executed"]
        return st
    st = eventually(caught_up, 10)
    assert st["transfers"][0][0] == 0  # it came back empty


def test_the_seed_comes_with_the_keys(tmp_path: Path) -> None:
    with Router(("n1",), log_dir=tmp_path, command=COMMAND) as router:
        router.start(setup=False)
        material = {**key_material(SEED, "n1", ("n1",), CLIENTS), "seed": "x"}
        reply = router.rpc("n1", {"type": "init", "node_id": "n1", "node_ids": ["n1"],
                                  "dchaos": {"pbft": material}}, timeout=10, src="c0")
    assert reply["type"] == "error" and "dchaos.pbft.seed must be an integer" in reply["text"]


def test_a_batch_goes_out_while_another_is_in_flight_only_when_enough_wait() -> None:
    replica = Replica()
    replica.window, replica.pipeline_min = 2, 3
    replica.queue = OrderedDict((("c1", t), {}) for t in range(1, 3))
    ordering = Ordering(replica)
    assert ordering.may_propose(0)  # the pipeline is idle: whatever waits goes
    assert not ordering.may_propose(1)  # two wait for the next batch, not a batch of their own
    replica.queue[("c1", 3)] = {}
    assert ordering.may_propose(1)
    replica.queue.update({("c2", t): {} for t in range(100)})
    assert not ordering.may_propose(2)  # the window is full


def test_a_colluding_equivocator_lies_only_where_its_primary_does() -> None:
    def behaviour(options: dict[str, Any]) -> Behaviour:
        return Behaviour("equivocate", options, "n2", lambda body: {**body, "sig": "s"}, SEED)

    def told(b: Behaviour, seq: int, batch: list[dict[str, Any]], view: int = 0,
             kind: str = "pbft_prepare") -> dict[str, str]:
        vote = {"type": kind, "view": view, "seq": seq, "replica": "n2",
                "digest": batch_digest(batch)}
        return {dest: b.outgoing(dest, vote, list(NODES), batch)[0][1]["digest"]
                for dest in ("n1", "n3", "n4")}

    ordered = sorted(({"client": c, "timestamp": 1, "op": {"f": "read", "key": 0}}
                      for c in CLIENTS), key=batch_order)
    first, second = batch_digest(ordered), batch_digest(ordered[::-1])
    colluder, alone = behaviour({"collude": True}), behaviour({})
    # The primary was honest: n2 was told the batch in order. A colluder does not lie alone.
    assert told(colluder, 5, ordered) == {"n1": first, "n3": first, "n4": first}
    assert told(alone, 5, ordered) == {"n1": first, "n3": first, "n4": second}
    # The primary lied (n2, at an odd position, was told the second version): it joins in.
    assert told(colluder, 6, ordered[::-1]) == {"n1": first, "n3": first, "n4": second}
    # As the primary itself (view 1 is n2's), it commits what it pre-prepared: both lies.
    assert told(colluder, 7, ordered, view=1, kind="pbft_commit") == {
        "n1": first, "n3": first, "n4": second}
