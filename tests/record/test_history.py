"""The operation history: invocations, completions, pairs, and the jsonl round trip."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, Op, outcome_of
from tests.builders import broadcast, call, history, read


def test_invoke_and_complete_append_indexed_ops() -> None:
    h = History()
    first = h.invoke("c1", "broadcast", 7, node="n2")
    other = h.invoke("c2", "read", None, node="n1")
    done = h.complete(first, OK, 7)
    assert [op.index for op in h.ops] == [0, 1, 2]
    assert (first.type, first.process, first.f, first.value, first.node) == (
        INVOKE, "c1", "broadcast", 7, "n2")
    assert (done.type, done.process, done.f, done.value, done.node, done.index) == (
        OK, "c1", "broadcast", 7, "n2", 2)
    assert done.time >= first.time >= 0.0
    assert other.index == 1


def test_complete_refuses_an_unknown_outcome() -> None:
    h = History()
    with pytest.raises(ValueError, match="outcome must be one of"):
        h.complete(h.invoke("c1", "read", None), "maybe")


def test_completion_keeps_the_error_text() -> None:
    h = History()
    done = h.complete(h.invoke("c1", "broadcast", 1), INFO, 1, error="timeout")
    assert done.error == "timeout"


def test_of_renumbers_ops() -> None:
    h = History.of([Op(9, "c1", INVOKE, "read", None, 0.5), Op(9, "c1", OK, "read", [], 0.6)])
    assert [op.index for op in h.ops] == [0, 1]
    assert h.t0 == 0.0


def test_ops_is_a_copy() -> None:
    h = history(read([1], 0.0, 0.1))
    h.ops.clear()
    assert len(h.ops) == 2


def test_pairs_match_each_invocation_with_its_process_completion() -> None:
    h = history(
        broadcast(1, 0.0, 0.3, process="c1"),
        read([1], 0.1, 0.2, process="c2"),
        broadcast(2, 0.4, 0.5, outcome=FAIL, process="c1"),
        call("c3", "read", None, 0.6, None),
    )
    pairs = list(h.pairs())
    assert [(inv.process, inv.f, inv.time) for inv, _ in pairs] == [
        ("c1", "broadcast", 0.0), ("c2", "read", 0.1), ("c1", "broadcast", 0.4),
        ("c3", "read", 0.6)]
    assert [(done.type, done.time) if done else None for _, done in pairs] == [
        (OK, 0.3), (OK, 0.2), (FAIL, 0.5), None]


def test_outcome_of_a_pair_is_its_completion_or_unknown() -> None:
    h = history(broadcast(1, 0.0, 0.3, outcome=FAIL), call("c2", "read", None, 0.6, None))
    assert [outcome_of(done) for _, done in h.pairs()] == [FAIL, INFO]


def test_pairs_ignore_a_completion_without_invocation() -> None:
    h = History.of([Op(0, "c1", OK, "read", [1], 0.1)])
    assert list(h.pairs()) == []


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    h = history(
        broadcast(1, 0.0, 0.25, node="n3"),
        read([1, 2], 0.5, 0.75),
        broadcast(2, 1.0, 1.5, outcome=INFO),
        call("c4", "read", None, 2.0, None),
    )
    h2 = History.of([*h.ops, Op(0, "c5", FAIL, "cas", {"from": 1, "to": 2}, 3.0, "n1",
                                "precondition-failed")])
    path = tmp_path / "history.jsonl"
    h2.write(path)
    back = History.read(path)
    assert back.ops == h2.ops
    assert back.t0 == 0.0


def test_write_is_one_compact_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history(read(None, 0.0, 0.1, outcome=FAIL)).write(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"index": 0, "process": "c2", "type": "invoke", "f": "read", "value": None,
         "time": 0.0, "node": "n2"},
        {"index": 1, "process": "c2", "type": "fail", "f": "read", "value": None,
         "time": 0.1, "node": "n2"},
    ]
    assert " " not in lines[0]


def test_op_to_json_leaves_out_empty_fields_but_keeps_value() -> None:
    data = json.loads(Op(3, "c1", INVOKE, "read", None, 1.5).to_json())
    assert data == {"index": 3, "process": "c1", "type": "invoke", "f": "read",
                    "value": None, "time": 1.5}


def test_concurrent_appends_get_unique_indexes() -> None:
    h = History()

    def work(client: str) -> None:
        for i in range(200):
            h.complete(h.invoke(client, "broadcast", i), OK, i)

    threads = [threading.Thread(target=work, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [op.index for op in h.ops] == list(range(1600))
    assert len(list(h.pairs())) == 800
