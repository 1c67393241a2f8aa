"""The causal_delivery check on hand-built runs: reads alone, and reads against logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.checks.causal_delivery import CausalDelivery
from pytest_dchaos.families.vector_clock.client_order import build
from pytest_dchaos.families.vector_clock.workload import (
    CausalWorkload,
    broadcast_message,
    read_messages,
)
from pytest_dchaos.record.history import History, Op
from pytest_dchaos.record.result import RunRecord, Verdict
from tests.builders import call, fault, history, record
from tests.families.vector_clock.test_checks import Event, clocked, ev, trace_of


def cbcast(message: int, node: str, start: float, end: float | None,
           process: str = "c1") -> list[Op]:
    return call(process, "cbcast", message, start, end, result=message, node=node)


def read(node: str, listed: list[int], start: float, end: float,
         process: str = "c2") -> list[Op]:
    return call(process, "read", None, start, end, result=listed, node=node)


def answered(n2_read_first: bool = True) -> History:
    """n1 broadcasts 1; n2 is read to have delivered it, then broadcasts 2 (its answer)."""
    ops = [cbcast(1, "n1", 0.0, 0.1), cbcast(2, "n2", 0.5, 0.6)]
    if n2_read_first:
        ops.append(read("n2", [1], 0.2, 0.3))
    return history(*ops)


def judge(ops: History, tmp_path: Path | None = None,
          logs: dict[str, list[Event]] | None = None,
          trace: list[dict[str, Any]] | None = None, **extra: Any) -> Verdict:
    result: RunRecord = record(ops, **extra)
    if logs is not None and tmp_path is not None:
        path = tmp_path / "trace.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in trace or []))
        result.trace_files = [path]
        result.node_states = {n: {"events": events} for n, events in logs.items()}
    return CausalDelivery().check(NoOptions(), result)


def test_an_effect_read_before_its_cause_fails_with_no_node_state() -> None:
    ops = history(answered().ops, read("n3", [2, 1], 1.0, 1.1, process="c3"))
    verdict = judge(ops)
    assert verdict.status == "fail" and verdict.evidence == "observed"
    assert "n3's read by c3" in verdict.detail
    assert "lists 2 (position 1) before 1 (position 2), which is in its causal past" \
        in verdict.detail
    assert "n2 listed 1 in a read that returned at 0.300s" in verdict.detail


def test_an_effect_read_without_its_cause_fails() -> None:
    verdict = judge(history(answered().ops, read("n3", [2], 1.0, 1.1, process="c3")))
    assert not verdict.passed
    assert "lists 2 (position 1) without 1" in verdict.detail


def test_reads_in_causal_order_pass_and_concurrent_ones_in_any_order() -> None:
    # 2 answers 1 (n2 read it first); 3 on n3 is concurrent with both.
    ops = history(answered().ops, cbcast(3, "n3", 0.5, 0.6, process="c3"),
                  read("n3", [3, 1, 2], 1.0, 1.1, process="c3"),
                  read("n1", [1, 3, 2], 1.0, 1.1, process="c4"))
    verdict = judge(ops)
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "observed"
    assert verdict.figures["reads"] == 3


def test_without_a_read_of_the_origin_the_history_orders_nothing_across_nodes() -> None:
    verdict = judge(history(answered(n2_read_first=False).ops,
                            read("n3", [2, 1], 1.0, 1.1, process="c3")))
    assert verdict.passed, verdict.detail


def test_program_order_on_one_node_and_transitivity() -> None:
    # 1 then 2 on n1 (2 invoked after 1's ack); n2 reads 2, then broadcasts 3: 1 < 2 < 3.
    ops = history(cbcast(1, "n1", 0.0, 0.1), cbcast(2, "n1", 0.2, 0.3),
                  read("n2", [1, 2], 0.4, 0.5), cbcast(3, "n2", 0.6, 0.7),
                  read("n3", [3, 2, 1], 1.0, 1.1, process="c3"))
    order = build(ops)
    assert order.judge((1, 2, 3)) == []
    verdict = judge(ops)
    assert not verdict.passed
    assert "lists 3 (position 1) before" in verdict.detail


def test_overlapping_broadcasts_on_one_node_are_not_ordered() -> None:
    ops = history(cbcast(1, "n1", 0.0, 0.3), cbcast(2, "n1", 0.1, 0.2, process="c2"),
                  read("n2", [2, 1], 1.0, 1.1, process="c3"))
    assert judge(ops).passed


def test_a_duplicate_and_an_invented_broadcast_fail() -> None:
    verdict = judge(history(cbcast(1, "n1", 0.0, 0.1), read("n2", [1, 1, 9], 0.2, 0.3)))
    assert not verdict.passed
    assert "lists 1 (position 2) twice, first at position 1" in verdict.detail
    judged = build(history(cbcast(1, "n1", 0.0, 0.1))).judge((9,))
    assert [p.kind for p in judged] == ["unknown"]


def test_what_a_node_knew_before_a_crash_does_not_order_its_later_broadcasts() -> None:
    ops = answered().ops
    crashed = [fault(0.35, "start", "kill", "crash", ["n2"]),
               fault(0.45, "end", "kill", "crash", ["n2"])]
    verdict = judge(history(ops, read("n3", [2, 1], 1.0, 1.1, process="c3")),
                    faults=crashed)
    assert verdict.passed, verdict.detail


def test_no_read_and_no_log_is_nothing_to_judge() -> None:
    verdict = judge(history(cbcast(1, "n1", 0.0, 0.1)))
    assert verdict.status == "fail"
    assert "nothing was judged" in verdict.detail


def arrival_order_logs(with_message: bool) -> tuple[dict[str, list[Event]],
                                                    list[dict[str, Any]]]:
    """n1 broadcasts 1; n2 delivers it and broadcasts 2; n3 gets 2 first, holds it back, and
    delivers 1 then 2 — an honest, causal log."""
    def delivered(node: str, i: int, origin: str, message: int) -> Event:
        extra = {"message": message} if with_message else {}
        return ev(node, i, "deliver", origin=origin, seq_b=1, **extra)

    logs = {
        "n1": [ev("n1", 1, "start"),
               ev("n1", 2, "send", what="cbcast", origin="n1", seq_b=1,
                  to={"n2": 1, "n3": 2}),
               delivered("n1", 3, "n1", 1)],
        "n2": [ev("n2", 1, "start"),
               ev("n2", 2, "receive", what="cbcast", origin="n1", seq_b=1, msg_id=1,
                  **{"from": "n1"}),
               delivered("n2", 3, "n1", 1),
               ev("n2", 4, "send", what="cbcast", origin="n2", seq_b=1,
                  to={"n1": 1, "n3": 2}),
               delivered("n2", 5, "n2", 2)],
        "n3": [ev("n3", 1, "start"),
               ev("n3", 2, "receive", what="cbcast", origin="n2", seq_b=1, msg_id=2,
                  **{"from": "n2"}),
               ev("n3", 3, "receive", what="cbcast", origin="n1", seq_b=1, msg_id=2,
                  **{"from": "n1"}),
               delivered("n3", 4, "n1", 1),
               delivered("n3", 5, "n2", 2)],
    }
    trace = trace_of(("n1", 1, "n2"), ("n2", 2, "n3"), ("n1", 2, "n3"))
    clocked(logs, trace)
    return logs, trace


def test_an_honest_log_behind_reads_in_arrival_order_fails_naming_the_node(
        tmp_path: Path) -> None:
    logs, trace = arrival_order_logs(with_message=True)
    # No read of n2 before it broadcast 2: the history alone cannot order 1 before 2.
    ops = history(answered(n2_read_first=False).ops,
                  read("n3", [2, 1], 1.0, 1.1, process="c3"))
    verdict = judge(ops, tmp_path, logs, trace)
    assert verdict.status == "fail" and verdict.evidence == "both"
    assert ("n3's read by c3 (returned at 1.100s) lists 2 at position 1, but n3's log "
            "records delivery 1 as n1#1 (message 1)") in verdict.detail
    assert verdict.figures["log_violations"] == 0  # the log itself is causal


def test_a_log_without_messages_is_matched_on_origins(tmp_path: Path) -> None:
    logs, trace = arrival_order_logs(with_message=False)
    ops = history(answered(n2_read_first=False).ops,
                  read("n3", [2, 1], 1.0, 1.1, process="c3"))
    verdict = judge(ops, tmp_path, logs, trace)
    assert not verdict.passed
    assert "lists 2 at position 1, but n3's log records delivery 1 as n1#1" in verdict.detail


def test_logs_that_agree_with_causal_reads_pass_on_both(tmp_path: Path) -> None:
    logs, trace = arrival_order_logs(with_message=True)
    ops = history(answered().ops, read("n3", [1, 2], 1.0, 1.1, process="c3"),
                  read("n3", [1], 0.7, 0.8, process="c4"))
    verdict = judge(ops, tmp_path, logs, trace)
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert verdict.figures["deliveries"] == 5


def test_a_read_longer_than_the_log_fails(tmp_path: Path) -> None:
    logs, trace = arrival_order_logs(with_message=True)
    logs["n3"] = logs["n3"][:4]  # n3 logged delivering 1 only
    ops = history(answered().ops, read("n3", [1, 2], 1.0, 1.1, process="c3"))
    verdict = judge(ops, tmp_path, logs, trace)
    assert not verdict.passed
    assert "but n3's log records only 1 deliveries" in verdict.detail


# -- the clocks reads and cbcast_ok give ------------------------------------------------


def acked(message: int, node: str, start: float, end: float, vc: dict[str, int],
          process: str = "c1") -> list[Op]:
    return call(process, "cbcast", message, start, end, node=node,
                result={"message": message, "vc": vc})


def read_with(node: str, entries: list[tuple[int, str, dict[str, int]]], start: float,
              end: float, process: str = "c2") -> list[Op]:
    return call(process, "read", None, start, end, node=node,
                result={"messages": [m for m, _, _ in entries],
                        "clocks": [[s, vc] for _, s, vc in entries]})


def overlapping() -> list[list[Op]]:
    """1 and 2 broadcast on n1 by two clients at once: the history alone leaves them
    unordered; n1's clocks say 1 came first."""
    return [acked(1, "n1", 0.0, 0.3, {"n1": 2}), acked(2, "n1", 0.1, 0.2, {"n1": 3}, "c3")]


def test_the_workload_keeps_senders_and_clocks_compactly() -> None:
    workload = CausalWorkload(0.1, 0.0, 0.0, 1)
    _, value = workload.completion("read", None, {"type": "read_ok", "delivered": [
        {"message": 7, "sender": "n2", "vc": {"n1": 0, "n2": 3}}]})
    assert value == {"messages": [7], "clocks": [["n2", {"n2": 3}]]}
    assert read_messages(value) == [7] and read_messages([7]) == [7]
    _, value = workload.completion("cbcast", 7, {"type": "cbcast_ok", "vc": {"n2": 3}})
    assert broadcast_message(value) == 7 and broadcast_message(7) == 7


def test_clocks_that_agree_with_cbcast_ok_pass_and_are_counted() -> None:
    ops = history(*overlapping(),
                  read_with("n2", [(1, "n1", {"n1": 2}), (2, "n1", {"n1": 3})], 1.0, 1.1))
    verdict = judge(ops)
    assert verdict.passed, verdict.detail
    assert verdict.figures["read_clocks"] == 2
    assert "the 2 clocks they gave agree with cbcast_ok" in verdict.detail


def test_a_read_giving_another_clock_than_cbcast_ok_fails() -> None:
    ops = history(*overlapping(),
                  read_with("n2", [(1, "n1", {"n1": 2}), (2, "n1", {"n1": 4})], 1.0, 1.1))
    verdict = judge(ops)
    assert not verdict.passed and verdict.evidence == "observed"
    assert ("n2's read by c2 (returned at 1.100s) gives 2 the clock {'n1': 4}, but its "
            "cbcast_ok gave {'n1': 3}") in verdict.detail


def test_two_reads_giving_one_broadcast_different_clocks_fail() -> None:
    # 5's cbcast never completed: the reads are all there is, and they disagree.
    ops = history(call("c1", "cbcast", 5, 0.0, None, node="n3"),
                  read_with("n1", [(5, "n3", {"n3": 2})], 1.0, 1.1),
                  read_with("n2", [(5, "n3", {"n3": 2, "n1": 1})], 1.2, 1.3, process="c4"))
    verdict = judge(ops)
    assert not verdict.passed
    assert ("n2's read by c4 (returned at 1.300s) gives 5 the clock {'n1': 1, 'n3': 2}, but "
            "n1's read by c2 gave it {'n3': 2}") in verdict.detail


def test_a_read_naming_another_sender_fails() -> None:
    ops = history(*overlapping(),
                  read_with("n2", [(1, "n2", {"n1": 2}), (2, "n1", {"n1": 3})], 1.0, 1.1))
    verdict = judge(ops)
    assert not verdict.passed
    assert "gives 1 (position 1) the sender 'n2', but its cbcast went to n1" in verdict.detail


def test_the_origins_clocks_order_what_the_history_leaves_unordered() -> None:
    # Without clocks the history cannot order 1 and 2 (see the overlapping test above).
    swapped = read_with("n2", [(2, "n1", {"n1": 3}), (1, "n1", {"n1": 2})], 1.0, 1.1)
    verdict = judge(history(*overlapping(), swapped))
    assert not verdict.passed
    assert ("lists 1 (position 2, n1's entry 2) after 2 (position 1, entry 3): n1's own "
            "clock says it broadcast 1 first") in verdict.detail
    alone = read_with("n2", [(2, "n1", {"n1": 3})], 1.0, 1.1)
    verdict = judge(history(*overlapping(), alone))
    assert not verdict.passed
    assert ("lists 2 without 1, which n1 acknowledged with its own entry 2 before 3"
            in verdict.detail)


def test_clocks_across_a_restart_without_storage_are_not_compared() -> None:
    # n1 restarts and counts from 1 again: its new broadcast 2 has a lower entry than 1.
    restarted = [fault(0.4, "start", "kill", "crash", ["n1"]),
                 fault(0.5, "end", "kill", "crash", ["n1"])]
    ops = history(acked(1, "n1", 0.0, 0.1, {"n1": 5}), acked(2, "n1", 0.6, 0.7, {"n1": 2}),
                  read_with("n2", [(1, "n1", {"n1": 5}), (2, "n1", {"n1": 2})], 1.0, 1.1))
    verdict = judge(ops, faults=restarted)
    assert verdict.passed, verdict.detail
