"""The timeline's lanes: the generic ones from the fault timeline, and each family's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dchaos.families.pbft.lanes import view_lanes
from pytest_dchaos.families.txn.lanes import in_doubt_lanes
from pytest_dchaos.families.vector_clock.lanes import snapshot_lanes
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.lanes import Lane, Mark, Span, fault_lanes, held, node_lanes
from tests.report.folders import T0, write_folder


def lane(lanes: list[Lane], name: str) -> Lane:
    return next(lane for lane in lanes if lane.name == name)


def states(lane: Lane) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.state) for s in lane.spans]


def edit(directory: Path, name: str, change: Any) -> None:
    path = directory / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def folder_with(tmp_path: Path, *, run: dict[str, Any] | None = None,
                observations: Any = None, states_: Any = None,
                ops: list[dict[str, Any]] | None = None,
                trace: list[dict[str, Any]] | None = None) -> ReportFolder:
    directory = write_folder(tmp_path / "run")
    if run:
        edit(directory, "result.json", lambda d: d["run"].update(run))
    if observations is not None:
        (directory / "observations.json").write_text(json.dumps(observations))
    if states_ is not None:
        (directory / "states.json").write_text(json.dumps(states_))
    if ops is not None:
        (directory / "history.jsonl").write_text(
            "".join(json.dumps({"index": i, **o}) + "\n" for i, o in enumerate(ops)))
    if trace is not None:
        (directory / "trace.jsonl").write_text("".join(json.dumps(e) + "\n" for e in trace))
    return ReportFolder.load(directory)


def test_held_merges_repeats_and_leaves_gaps() -> None:
    samples = [(0.0, "a", ""), (1.0, "a", ""), (2.0, None, ""), (3.0, "b", "x"),
               (4.0, "b", "y")]
    assert held(samples, 5.0) == (Span(0.0, 2.0, "a"), Span(3.0, 4.0, "b", "x"),
                                  Span(4.0, 5.0, "b", "y"))


def test_node_lanes_from_the_fault_timeline(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, run={"twins": [
        {"member": "n3-twin", "node": "n3", "sees": ["n1"]}]})
    lanes = node_lanes(folder)
    assert [x.name for x in lanes] == ["n1", "n2", "n3 (twinned)", "n3-twin"]
    assert states(lane(lanes, "n2")) == [(0.0, 2.0, "up"), (2.0, 4.0, "down"),
                                         (4.0, 9.0, "up")]
    # paused beats twinned while both hold
    assert states(lane(lanes, "n3 (twinned)")) == [
        (0.0, 3.0, "twinned"), (3.0, 3.5, "paused"), (3.5, 9.0, "twinned")]
    assert states(lane(lanes, "n3-twin")) == [(0.0, 9.0, "twinned")]
    n1 = lane(lanes, "n1")
    assert [(m.t, m.label) for m in n1.marks] == [(6.0, "restarted"), (6.5, "bad_output")]


def test_a_reordering_twin_is_described_with_its_holdback(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, run={"twins": [
        {"member": "n1-twin", "node": "n1", "sees": ["n3"], "reorder": 0.05}]})
    lanes = node_lanes(folder)
    why = "hearing client requests in another order (each held back up to 50ms)"
    assert why in lane(lanes, "n1-twin").spans[0].detail
    assert any(why in s.detail for s in lane(lanes, "n1 (twinned)").spans)


def test_a_crash_that_never_ends_leaves_the_node_down(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    faults = folder.faults[:1]  # f1's start only: killed, never restarted
    folder.faults[:] = faults
    assert states(lane(node_lanes(folder), "n2"))[-1] == (2.0, 9.0, "down")


def test_fault_lanes(tmp_path: Path) -> None:
    lanes = fault_lanes(folder_with(tmp_path))
    assert [x.name for x in lanes] == ["f1 kill", "f2 pause", "f3 partition", "f4 restart"]
    assert states(lanes[0]) == [(2.0, 4.0, "crash")]
    assert states(lanes[2]) == [(5.0, 9.0, "cut")]
    assert "never ended" in lanes[2].spans[0].detail
    assert lanes[3].spans == () and [m.label for m in lanes[3].marks] == ["restart"]


def test_gossip_membership_views(tmp_path: Path) -> None:
    from pytest_dchaos.families.gossip.lanes import membership_lanes

    lanes = membership_lanes(folder_with(tmp_path))
    assert [x.name for x in lanes] == ["n1 sees", "n2 sees", "n3 sees"]
    assert states(lanes[0]) == [(0.0, 2.5, "all alive"), (2.5, 4.5, "dead"),
                                (4.5, 9.0, "all alive")]
    assert lanes[0].spans[1].detail == "n2 dead"
    assert states(lanes[1])[1] == (2.0, 4.0, "no answer")
    assert lanes[0].source.startswith("reported")
    assert membership_lanes(folder_with(tmp_path / "none", observations={})) == []


def test_pbft_views_and_primaries(tmp_path: Path) -> None:
    def reply(at: float, member: str, view: int) -> dict[str, Any]:
        return {"at": at, "member": member, "replica": member, "kind": "reply",
                "view": view, "client": "c1", "timestamp": 1, "op": {}, "result": "{}",
                "reply_timestamp": 1}

    replies = [reply(1.0, m, 0) for m in ("n1", "n2", "n3")]
    replies += [reply(4.0, "n2", 1), reply(4.5, "n3", 1), reply(5.0, "n4", 7)]
    folder = folder_with(
        tmp_path, run={"nodes": ["n1", "n2", "n3", "n4"]},
        observations={"replies": {"replies": replies}},
        states_={"n2": {"view": 1, "suspects": ["n1"]}})
    lanes = view_lanes(folder)
    # f = 1: a view counts once 2 replicas replied in it; n4 alone cannot move it to 7.
    assert states(lanes[0]) == [(0.0, 4.5, "view 0"), (4.5, 9.0, "view 1")]
    assert [s.detail for s in lanes[0].spans] == ["primary n1", "primary n2"]
    n2 = lane(lanes, "n2 replies in")
    assert states(n2) == [(1.0, 4.0, "view 0"), (4.0, 9.0, "view 1")]
    assert n2.marks == (Mark(9.0, "reports view 1, suspects n1",
                             "its dchaos_state at the end (reported)"),)
    assert states(lane(lanes, "n4 replies in")) == [(5.0, 9.0, "view 7")]


def test_txn_transactions_in_doubt(tmp_path: Path) -> None:
    ops = [
        {"process": "c1", "type": "invoke", "f": "txn", "value": [], "time": 1.0,
         "node": "n1"},
        {"process": "c1", "type": "info", "f": "txn", "value": [], "time": 3.0,
         "node": "n1", "error": "timeout"},
        {"process": "c2", "type": "invoke", "f": "txn", "value": [], "time": 2.0,
         "node": "n1"},
    ]
    states_ = {"n2": {"blocked": {"n1.4": {"since": T0 + 1.5, "until": T0 + 2.5,
                                           "coordinator": "n1"},
                                  "n1.5": {"since": T0 + 2.0}},
                      "decisions": {"n1.5": "pending", "n1.4": "commit"}}}
    lanes = in_doubt_lanes(folder_with(tmp_path, ops=ops, states_=states_))
    assert [x.name for x in lanes] == ["n1 clients in doubt", "n2 blocked"]
    assert states(lanes[0]) == [(1.0, 2.0, "in doubt"), (2.0, 3.0, "in doubt"),
                                (3.0, 9.0, "in doubt")]
    assert lanes[0].spans[1].detail.startswith("2: ")  # two open at once
    assert states(lanes[1]) == [(1.5, 2.0, "blocked"), (2.0, 2.5, "blocked"),
                                (2.5, 9.0, "blocked")]
    assert "never decided" in lanes[1].spans[-1].detail
    assert [m.label for m in lanes[1].marks] == ["1 pending"]


def test_vector_clock_snapshots(tmp_path: Path) -> None:
    ops = [
        {"process": "c1", "type": "invoke", "f": "snapshot", "value": None, "time": 1.0,
         "node": "n1"},
        {"process": "c1", "type": "ok", "f": "snapshot", "value": "n1.1", "time": 1.2,
         "node": "n1"},
    ]
    trace = [{"t": T0 + t, "ev": "send", "id": f"m{i}", "src": src, "dest": "n3",
              "type": "vc_marker", "size": 10}
             for i, (t, src) in enumerate([(1.01, "n1"), (1.02, "n1"), (1.1, "n2")])]
    states_ = {"n1": {"snapshots": [{"id": "n1.1", "complete": True}]},
               "n2": {"snapshots": [{"id": "n1.1", "complete": False}]}}
    lanes = snapshot_lanes(folder_with(tmp_path, ops=ops, states_=states_, trace=trace))
    assert [x.name for x in lanes] == ["n1 snapshots", "n2 snapshots"]
    assert states(lanes[0]) == [(1.0, 1.2, "snapshot ok")]
    assert lanes[0].spans[0].detail == "snapshot n1.1 (ok); complete on n1 (reported)"
    assert [round(m.t, 2) for m in lanes[0].marks] == [1.01]  # one burst of markers
    assert [round(m.t, 2) for m in lanes[1].marks] == [1.1]
