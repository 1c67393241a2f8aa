"""The transaction node on its own: bad input, and recovery from a torn write-ahead log.

Each node runs as a real process in its own folder, which holds its log; the test speaks
to it as a client (and, for the log, writes the records a previous life would have).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from reference_nodes.txn.wal import encode, read_records

from .conftest import REPO_ROOT


def ask(folder: Path, *bodies: dict[str, Any], nodes: tuple[str, ...] = ("n1",)
        ) -> list[dict[str, Any]]:
    """Start node n1 in ``folder``, send ``init`` then ``bodies``; the replies, in order."""
    lines = [{"src": "c1", "dest": "n1", "body": {"type": "init", "node_id": "n1",
                                                  "node_ids": list(nodes), "msg_id": 0}}]
    lines += [{"src": "c1", "dest": "n1", "body": {**b, "msg_id": i}}
              for i, b in enumerate(bodies, start=1)]
    proc = subprocess.Popen([sys.executable, "-m", "reference_nodes.txn"], cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdin is not None and proc.stdout is not None
    replies: dict[int, dict[str, Any]] = {}
    try:
        for line in lines:
            proc.stdin.write((json.dumps(line) + "\n").encode())
            proc.stdin.flush()
            want = line["body"]["msg_id"]
            while want not in replies:
                out = proc.stdout.readline()
                assert out, "the node exited"
                msg = json.loads(out)
                if msg["dest"] == "n1":  # to itself, as its agent would carry it
                    proc.stdin.write(out)
                    proc.stdin.flush()
                    continue
                replies[msg["body"].get("in_reply_to")] = msg["body"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
    return [replies[i] for i in range(1, len(bodies) + 1)]


@pytest.mark.parametrize(("txn", "problem"), [
    ([["x", 1, None]], "unknown function 'x'"),
    ([["w", "k", 1]], "key 'k' is not a non-negative integer"),
    ([["w", -1, 1]], "key -1 is not a non-negative integer"),
    ([["r", 1]], "not [f, key, value]"),
    ([], "non-empty list"),
    ("w 1 1", "non-empty list"),
])
def test_a_malformed_transaction_gets_error_12_and_changes_nothing(
        tmp_path: Path, txn: Any, problem: str) -> None:
    # A good write before the bad operation: it must not happen either.
    body = [["w", 1, 10], *txn] if isinstance(txn, list) and txn else txn
    refused, state = ask(tmp_path, {"type": "txn", "txn": body}, {"type": "dchaos_state"})
    assert refused["type"] == "error" and refused["code"] == 12
    assert problem in refused["text"]
    assert state["store"] == {} and state["decisions"] == {}


def test_a_transaction_commits_and_survives_a_restart(tmp_path: Path) -> None:
    (done,) = ask(tmp_path, {"type": "txn", "txn": [["w", 3, 30], ["r", 3, None]]})
    assert done == {"type": "txn_ok", "txn": [["w", 3, 30], ["r", 3, 30]],
                    "in_reply_to": 1, "msg_id": done["msg_id"]}
    (read,) = ask(tmp_path, {"type": "txn", "txn": [["r", 3, None]]})
    assert read["txn"] == [["r", 3, 30]]


def test_each_transaction_names_the_request_that_started_it_across_a_restart(
        tmp_path: Path) -> None:
    # The harness's optional convention (dchaos_state_ok.txns): the node's own transaction
    # id, tied to the client and msg_id of the request; kept in the log with the
    # transaction, so a restarted node still says it.
    done, state = ask(tmp_path, {"type": "txn", "txn": [["w", 3, 30]]},
                      {"type": "dchaos_state"})
    assert done["type"] == "txn_ok"
    (txn,) = state["decisions"]
    assert state["txns"] == {txn: {"client": "c1", "msg_id": 1}}
    (after,) = ask(tmp_path, {"type": "dchaos_state"})
    assert after["decisions"] == {txn: "commit"}
    assert after["txns"] == state["txns"]


def previous_life(folder: Path) -> bytes:
    """The log of a participant that committed A (key 1 = 11), and prepared B (key 2 =
    22, coordinated by n2) and then logged B's commit as its last record."""
    records = [
        {"r": "boot", "incarnation": 1},
        {"r": "p_prepared", "txn": "n2.1.1", "coord": "n2", "parts": ["n1"],
         "writes": [[1, 11]], "reads": []},
        {"r": "p_decide", "txn": "n2.1.1", "d": "commit"},
        {"r": "p_prepared", "txn": "n2.1.2", "coord": "n2", "parts": ["n1"],
         "writes": [[2, 22]], "reads": []},
        {"r": "p_decide", "txn": "n2.1.2", "d": "commit"},
    ]
    return b"".join(encode(r) for r in records)


@pytest.mark.slow
def test_every_torn_cut_of_the_last_record_keeps_every_committed_write(tmp_path: Path
                                                                       ) -> None:
    log = previous_life(tmp_path)
    last = len(encode({"r": "p_decide", "txn": "n2.1.2", "d": "commit"}))
    cuts = range(len(log) - last, len(log) + 1)

    def recover(cut: int) -> tuple[int, dict[str, Any]]:
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        (folder / "wal.log").write_bytes(log[:cut])
        (state,) = ask(folder, {"type": "dchaos_state"}, nodes=("n1", "n2"))
        return cut, state

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(recover, cuts))
    for cut, state in results:
        # A's commit was durable before the cut: it is never lost.
        assert state["store"].get("1") == 11, f"cut at byte {cut}: {state['store']}"
        if cut == len(log):
            assert state["store"].get("2") == 22 and state["decisions"]["n2.1.2"] == "commit"
        else:
            # B's commit record is torn: B is back in doubt (prepared, its lock held),
            # never half-applied, never forgotten — its coordinator will say.
            assert "2" not in state["store"], f"cut at byte {cut}"
            assert state["decisions"]["n2.1.2"] == "pending", f"cut at byte {cut}"
            assert state["locks"]["2"]["holders"] == ["n2.1.2"]
    assert len(results) == last + 1


def test_the_log_reader_stops_at_a_corrupt_record(tmp_path: Path) -> None:
    log = bytearray(previous_life(tmp_path))
    log[-5] ^= 0xFF  # a flipped bit in the last record's JSON: its checksum fails
    (tmp_path / "wal.log").write_bytes(bytes(log))
    records, valid = read_records(str(tmp_path / "wal.log"))
    assert [r["r"] for r in records] == ["boot", "p_prepared", "p_decide", "p_prepared"]
    assert valid == len(log) - len(encode({"r": "p_decide", "txn": "n2.1.2", "d": "commit"}))


def test_each_life_is_durably_numbered_before_it_names_a_transaction(tmp_path: Path) -> None:
    # Killed right after init: its boot record must already be on disk, or its next life
    # would take the same incarnation and hand out the same transaction ids again.
    for life in (1, 2):
        proc = subprocess.Popen([sys.executable, "-m", "reference_nodes.txn"], cwd=tmp_path,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        assert proc.stdin is not None and proc.stdout is not None
        init = {"src": "c1", "dest": "n1", "body": {"type": "init", "node_id": "n1",
                                                    "node_ids": ["n1", "n2"], "msg_id": 1}}
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["body"]["type"] == "init_ok"
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        records, _ = read_records(str(tmp_path / "wal.log"))
        assert [r["incarnation"] for r in records if r["r"] == "boot"] == list(range(1, life + 1))
