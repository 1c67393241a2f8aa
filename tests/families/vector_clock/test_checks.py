"""The vector-clock checks on small, hand-built runs: logs, trace and states."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock import causality, shiviz
from pytest_dchaos.families.vector_clock.checks.common import shiviz_problems
from pytest_dchaos.families.vector_clock.checks.snapshots import Snapshots, SnapshotsOptions
from pytest_dchaos.families.vector_clock.checks.vector_clocks import VectorClocks
from pytest_dchaos.record.result import RunRecord
from tests.builders import call, history, record

Event = dict[str, Any]


def ev(node: str, i: int, kind: str, **fields: Any) -> Event:
    """An event with the clock a correct node would give it (filled in by ``clocked``)."""
    return {"i": i, "kind": kind, **fields}


def clocked(logs: dict[str, list[Event]], trace: list[dict[str, Any]]) -> None:
    """Give each event the exact vector clock (the harness's own) as its ``vc``."""
    model = causality.build(logs, sorted(logs), trace)
    for node, events in logs.items():
        for event, clock in zip(events, model.clocks[node], strict=True):
            event["vc"] = {n: c for n, c in zip(model.nodes, clock, strict=True) if c}


def trace_of(*messages: tuple[str, int, str]) -> list[dict[str, Any]]:
    trace = []
    for number, (src, msg_id, dest) in enumerate(messages):
        mid = f"{src}:1.{number}"
        trace += [{"t": 1.0, "ev": "send", "id": mid, "src": src, "dest": dest, "mi": msg_id,
                   "type": "vc_x", "size": 1},
                  {"t": 1.0, "ev": "recv", "id": mid, "src": src, "dest": dest,
                   "type": "vc_x", "size": 1}]
    return trace


def run(tmp_path: Path, logs: dict[str, list[Event]], trace: list[dict[str, Any]],
        snapshots: dict[str, list[dict[str, Any]]] | None = None) -> RunRecord:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in trace))
    asked = [call("c1", "snapshot", None, 0.1, 0.2, result="s")]
    result = record(history(*asked), nodes=len(logs))
    result.trace_files = [path]
    result.node_states = {n: {"events": events, "initial_balance": 100,
                              "snapshots": (snapshots or {}).get(n, [])}
                          for n, events in logs.items()}
    return result


def snapshot_run(tmp_path: Path, marker_first: bool) -> RunRecord:
    """n1 records, then sends a transfer of 10 and a marker to n2 (in either order)."""
    transfer = ev("n1", 0, "send", what="transfer", amount=10, to={"n2": 1})
    marker = ev("n1", 0, "send", what="marker", id="s", to={"n2": 2})
    sends = [marker, transfer] if marker_first else [transfer, marker]
    n1 = [ev("n1", 1, "start"), ev("n1", 2, "snapshot", id="s", state={"balance": 100}), *sends]
    got_transfer = ev("n2", 0, "receive", what="transfer", amount=10, msg_id=1, **{"from": "n1"})
    got_marker = ev("n2", 0, "receive", what="marker", id="s", msg_id=2, **{"from": "n1"})
    if marker_first:
        n2 = [ev("n2", 1, "start"), got_marker, ev("n2", 3, "snapshot", id="s"), got_transfer]
        n2_record = {"id": "s", "state": {"balance": 100}, "at": 3}
    else:
        n2 = [ev("n2", 1, "start"), got_transfer, got_marker, ev("n2", 4, "snapshot", id="s")]
        n2_record = {"id": "s", "state": {"balance": 110}, "at": 4}
    logs = {"n1": n1, "n2": n2}
    trace = trace_of(("n1", 1, "n2"), ("n1", 2, "n2"))
    clocked(logs, trace)
    return run(tmp_path, logs, trace, {
        "n1": [{"id": "s", "state": {"balance": 100}, "at": 2, "channels": {"n2": []},
                "complete": True}],
        "n2": [{**n2_record, "channels": {"n1": []}, "complete": True}]})


def test_a_snapshot_taken_by_the_book_is_consistent_and_conserved(tmp_path: Path) -> None:
    verdict = Snapshots().check(SnapshotsOptions(complete=True),
                                snapshot_run(tmp_path, marker_first=True))
    assert verdict.passed, verdict.detail
    assert "200 units conserved" in verdict.detail


def test_a_transfer_overtaking_the_marker_breaks_the_cut(tmp_path: Path) -> None:
    verdict = Snapshots().check(SnapshotsOptions(complete=True),
                                snapshot_run(tmp_path, marker_first=False))
    assert not verdict.passed
    assert "not a consistent cut: n2 received msg_id 1 inside it" in verdict.detail
    assert "not conserved: balances 210" in verdict.detail


def two_node_exchange() -> tuple[dict[str, list[Event]], list[dict[str, Any]]]:
    logs = {"n1": [ev("n1", 1, "start"), ev("n1", 2, "send", what="cbcast", to={"n2": 1})],
            "n2": [ev("n2", 1, "start"),
                   ev("n2", 2, "receive", what="cbcast", msg_id=1, **{"from": "n1"}),
                   ev("n2", 3, "deliver")]}
    trace = trace_of(("n1", 1, "n2"))
    clocked(logs, trace)
    return logs, trace


def test_exact_clocks_pass_and_every_pair_is_counted(tmp_path: Path) -> None:
    logs, trace = two_node_exchange()
    verdict = VectorClocks().check(NoOptions(), run(tmp_path, logs, trace))
    assert verdict.passed, verdict.detail
    # 5 events, 10 pairs: each node's in order (1 + 3), n1's two before n2's last two (4);
    # only n2's start is concurrent with n1's two events.
    assert verdict.figures["pairs"] == 10
    assert verdict.figures["ordered_pairs"] == 1 + 3 + 4
    assert verdict.figures["concurrent_pairs"] == 2


def test_a_clock_claiming_a_concurrent_event_as_past_is_a_false_order(tmp_path: Path) -> None:
    logs, trace = two_node_exchange()
    logs["n1"][0]["vc"] = {"n1": 1, "n2": 1}  # n1's start "knows" n2's concurrent start
    verdict = VectorClocks().check(NoOptions(), run(tmp_path, logs, trace))
    assert not verdict.passed
    assert "1 pair(s) ordered that are not" in verdict.detail


def test_a_missing_merge_is_a_missed_order(tmp_path: Path) -> None:
    logs, trace = two_node_exchange()
    for event in logs["n2"][1:]:
        event["vc"] = {"n2": event["vc"]["n2"]}
    verdict = VectorClocks().check(NoOptions(), run(tmp_path, logs, trace))
    assert not verdict.passed
    assert "4 happened-before pair(s) not ordered" in verdict.detail


def test_shiviz_log_has_the_regex_line_and_parses_event_by_event(tmp_path: Path) -> None:
    logs, trace = two_node_exchange()
    model = causality.build(logs, ["n1", "n2"], trace)
    shiviz.write(tmp_path / "shiviz.log", model, node_clocks=True)
    lines = (tmp_path / "shiviz.log").read_text().split("\n")
    assert lines[0] == shiviz.REGEX and lines[1] == ""
    # ShiViz's regex is JavaScript's; Python spells named groups (?P<name>...).
    pattern = re.compile(shiviz.REGEX.replace("(?<", "(?P<"))
    body = "\n".join(lines[2:]).rstrip("\n")
    events = [m.groupdict() for m in pattern.finditer(body)]
    assert len(events) == 5
    assert events[3]["host"] == "n2" and json.loads(events[3]["clock"]) == {"n1": 2, "n2": 2}
    assert events[3]["event"] == "receive cbcast from n1 (msg 1)"


def test_shiviz_rules_catch_a_skipped_tick_and_an_intransitive_clock() -> None:
    logs, _ = two_node_exchange()
    assert shiviz_problems(logs) == []
    logs["n2"][2]["vc"] = {"n2": 4, "n1": 2}
    assert "own entry 4, ShiViz needs 3" in shiviz_problems(logs)[0]
    logs, _ = two_node_exchange()
    logs["n2"][1]["vc"] = {"n2": 2, "n1": 1}
    logs["n1"][0]["vc"] = {"n1": 1, "n2": 3}  # n1's start knows an n2 event it cannot
    problems = shiviz_problems(logs)
    assert any("knows n1 event 1 but not all that it knew" in p for p in problems), problems
