"""Fault coverage: whether a firing took effect, judged from the fault timeline and the
message trace the harness wrote."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_dchaos.explore.coverage import Coverage, firing_effects
from pytest_dchaos.record.result import FaultEvent, IncidentRecord
from tests.builders import record


def event(time: float, action: str, key: str, kind: str, nodes: tuple[str, ...] = (),
          links: tuple[tuple[str, str], ...] = ()) -> FaultEvent:
    return FaultEvent(time, action, key, kind, f"{kind} {key}", nodes, "other", links)


def trace(tmp_path: Path, *events: tuple[float, str, str, str, str | None]) -> Path:
    path = tmp_path / "trace.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for t, ev, src, dest, why in events:
            line = {"t": t, "ev": ev, "id": "x", "src": src, "dest": dest, "type": "gossip",
                    "size": 10}
            if why:
                line["why"] = why
            out.write(json.dumps(line) + "\n")
    return path


def test_a_kill_of_a_node_already_down_did_not_take_effect() -> None:
    run = record(faults=[
        event(1.0, "start", "f1", "kill", ("n1",)),
        event(1.5, "start", "f2", "kill", ("n1",)),   # n1 is down: nothing to kill
        event(2.0, "start", "f3", "pause", ("n1",)),  # nor to pause
        event(3.0, "end", "f1", "kill", ("n1",)),     # restarted
        event(3.5, "start", "f4", "stop", ("n1",)),
        event(4.0, "start", "f5", "restart", ("n2",)),
        event(4.5, "start", "f6", "pause", ("n3",)),
        event(4.6, "start", "f7", "kill", ("n3",)),   # a paused node can be killed
        event(5.0, "start", "f8", "pause", ("n2",)),
    ], incidents=[IncidentRecord(4.8, "n2", "crash", "exited on its own")])
    took = {e.key: e.took_effect for e in firing_effects(run, [])}
    assert took == {"f1": True, "f2": False, "f3": False, "f4": True, "f5": True,
                    "f6": True, "f7": True, "f8": False}


def test_a_partition_no_message_tried_to_cross_did_not_take_effect(tmp_path: Path) -> None:
    cut = (("n1", "n2"), ("n2", "n1"))
    run = record(faults=[
        event(1.0, "start", "f1", "partition", ("n1", "n2"), cut),
        event(2.0, "end", "f1", "partition", ("n1", "n2"), cut),
        event(3.0, "start", "f2", "partition", ("n1", "n2"), cut),
        event(4.0, "end", "f2", "partition", ("n1", "n2"), cut),
    ])
    run.trace_files = [trace(tmp_path,
                             (1.5, "drop", "n2", "n1", "link down"),
                             (2.5, "drop", "n2", "n1", "link down"),  # between the two
                             (3.5, "drop", "n3", "n1", "link down"))]  # not its link
    took = {e.key: e.took_effect for e in firing_effects(run, [])}
    assert took == {"f1": True, "f2": False}


def test_message_faults_count_what_the_agents_did_and_reordering_is_not_measured(
        tmp_path: Path) -> None:
    links = (("n1", "n2"),)
    entries = [{"at": "1s", "message": {"drop": 0.5, "links": ["n1->n2"]}, "duration": "1s"},
               {"at": "1s", "message": {"duplicate": 0.5, "links": ["n1->n2"]},
                "duration": "1s"},
               {"at": "1s", "message": {"reorder": 0.5, "links": ["n1->n2"]},
                "duration": "1s"},
               {"at": "3s", "latency": {"latency": "100ms", "links": ["n1->n2"]},
                "duration": "1s"}]
    run = record(faults=[
        event(1.0, "start", "f1", "message", ("n1", "n2"), links),
        event(1.0, "start", "f2", "message", ("n1", "n2"), links),
        event(1.0, "start", "f3", "message", ("n1", "n2"), links),
        event(3.0, "start", "f4", "latency", ("n1", "n2"), links),
    ], phases={"healed": 5.0})
    run.trace_files = [trace(tmp_path, (1.2, "drop", "n1", "n2", "rule"),
                             (3.5, "send", "n2", "n1", None))]
    effects = firing_effects(run, entries)
    assert [e.took_effect for e in effects] == [True, False, None, False]
    coverage = Coverage()
    coverage.add(effects)
    coverage.add(firing_effects(record(faults=[event(1.0, "error", "f1", "kill")]), []))
    assert coverage.to_json()["message"] == {"injected": 3, "took_effect": 1,
                                             "not_measured": 1, "errors": 0}
    assert coverage.to_json()["kill"]["errors"] == 1
    table = coverage.table()
    assert "took effect" in table and "not measured: reordering" in table


def test_a_byzantine_replica_took_effect_only_if_it_spoke_while_a_traitor(
        tmp_path: Path) -> None:
    run = record(faults=[
        event(1.0, "start", "f1", "byzantine", ("n2",)),
        event(2.0, "end", "f1", "byzantine", ("n2",)),
        event(3.0, "start", "f2", "byzantine", ("n3",)),  # said nothing while it held
        event(3.5, "end", "f2", "byzantine", ("n3",)),
        event(4.0, "start", "f3", "byzantine", ()),       # aimed at a leader; none led
    ])
    run.trace_files = [trace(tmp_path,
                             (1.5, "send", "n2", "n1", None),
                             (3.2, "send", "n2", "n3", None),   # another node
                             (3.8, "send", "n3", "n1", None))]  # after it turned back
    took = {e.key: e.took_effect for e in firing_effects(run, [])}
    assert took == {"f1": True, "f2": False, "f3": False}
    # A silent traitor sends nothing by design: the trace cannot tell, so not measured.
    entries = [{"at": "1s", "byzantine": {"node": "n2", "behavior": "equivocate"}},
               {"at": "3s", "byzantine": {"node": "n3", "behavior": "silent"}}]
    took = {e.key: e.took_effect for e in firing_effects(run, entries)}
    assert took == {"f1": True, "f2": None, "f3": False}


def test_a_mutating_or_replaying_traitor_took_effect_only_if_its_agent_changed_or_resent(
        tmp_path: Path) -> None:
    links = (("n1", "n2"), ("n1", "n3"))
    entries = [{"at": "1s", "message": {"mutate": 0.1, "links": ["n1->n2", "n1->n3"]},
                "duration": "1s"},
               {"at": "1s", "message": {"replay": 0.1, "links": ["n1->n2", "n1->n3"]},
                "duration": "1s"},
               {"at": "3s", "message": {"mutate": 0.1, "links": ["n1->n2", "n1->n3"]},
                "duration": "1s"},
               {"at": "3s", "message": {"replay": 0.1, "links": ["n1->n2", "n1->n3"]},
                "duration": "1s"}]
    run = record(faults=[
        event(1.0, "start", "f1", "message", ("n1",), links),
        event(1.0, "start", "f2", "message", ("n1",), links),
        event(2.0, "end", "f1", "message", ("n1",), links),
        event(2.0, "end", "f2", "message", ("n1",), links),
        event(3.0, "start", "f3", "message", ("n1",), links),
        event(3.0, "start", "f4", "message", ("n1",), links),
    ], phases={"healed": 5.0})
    run.trace_files = [trace(tmp_path,
                             (1.2, "mutate", "n1", "n3", "view 2->3"),
                             (1.4, "replay", "n1", "n2", "with n1:a.9"),
                             (3.2, "send", "n1", "n2", None),  # sent, left unchanged
                             (3.3, "mutate", "n2", "n1", "seq 4->5"),  # not its link
                             (3.4, "replay", "n1", "n4", "with n1:a.12"))]  # nor this
    took = {e.key: e.took_effect for e in firing_effects(run, entries)}
    assert took == {"f1": True, "f2": True, "f3": False, "f4": False}
