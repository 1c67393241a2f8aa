"""The snapshots check's trace half: channel states held to what travelled on the channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_dchaos.families.vector_clock.checks.snapshots import Snapshots, SnapshotsOptions
from pytest_dchaos.record.result import Verdict
from tests.families.vector_clock.test_checks import Event, clocked, ev, run
from tests.families.vector_clock.test_fifo_channels import wire


def cut_with_a_broadcast_in_flight(n2_logs_it: bool = True, after_marker: bool = False
                                   ) -> tuple[dict[str, list[Event]], list[dict[str, Any]]]:
    """n2 starts snapshot s (records, sends its marker to n1); n1 had broadcast msg 1 to n2
    before the marker reached it, so msg 1 is in flight on n1 → n2 when n2 records. n1
    records on n2's marker and sends its own. With ``after_marker``, n1 also broadcasts
    msg 3 after its marker (outside the cut)."""
    n1 = [ev("n1", 1, "start"),
          ev("n1", 2, "send", what="cbcast", origin="n1", seq_b=1, to={"n2": 1}),
          ev("n1", 3, "receive", what="marker", id="s", msg_id=1, **{"from": "n2"}),
          ev("n1", 4, "snapshot", id="s", state={"balance": 100}),
          ev("n1", 5, "send", what="marker", id="s", to={"n2": 2})]
    n2 = [ev("n2", 1, "start"), ev("n2", 2, "snapshot", id="s", state={"balance": 100}),
          ev("n2", 3, "send", what="marker", id="s", to={"n1": 1})]
    if n2_logs_it:
        n2.append(ev("n2", 4, "receive", what="cbcast", origin="n1", seq_b=1, msg_id=1,
                     **{"from": "n1"}))
    n2.append(ev("n2", 5, "receive", what="marker", id="s", msg_id=2, **{"from": "n1"}))
    steps = [("write", "n1", 1, "n2"), ("write", "n2", 1, "n1"), ("hand", "n2", 1, "n1"),
             ("write", "n1", 2, "n2"), ("hand", "n1", 1, "n2"), ("hand", "n1", 2, "n2")]
    if after_marker:
        n1.append(ev("n1", 6, "send", what="cbcast", origin="n1", seq_b=2, to={"n2": 3}))
        steps += [("write", "n1", 3, "n2"), ("hand", "n1", 3, "n2")]
    logs = {"n1": n1, "n2": n2}
    trace = wire(*steps)
    clocked(logs, trace)
    return logs, trace


def judge(tmp_path: Path, logs: dict[str, list[Event]], trace: list[dict[str, Any]],
          n2_holds: list[Any]) -> Verdict:
    states = {"n1": [{"id": "s", "state": {"balance": 100}, "at": 4, "channels": {"n2": []},
                      "complete": True}],
              "n2": [{"id": "s", "state": {"balance": 100}, "at": 2,
                      "channels": {"n1": [{"msg_id": m, "what": "cbcast"} for m in n2_holds]},
                      "complete": True}]}
    return Snapshots().check(SnapshotsOptions(complete=True), run(tmp_path, logs, trace, states))


def test_a_channel_state_holding_what_was_in_flight_passes_on_both(tmp_path: Path) -> None:
    logs, trace = cut_with_a_broadcast_in_flight()
    verdict = judge(tmp_path, logs, trace, n2_holds=[1])
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert verdict.figures["channels_on_trace"] == 2
    assert "2 channel state(s) agree with what the trace shows in flight" in verdict.detail


def test_a_recorded_message_never_sent_fails(tmp_path: Path) -> None:
    logs, trace = cut_with_a_broadcast_in_flight()
    verdict = judge(tmp_path, logs, trace, n2_holds=[1, 9])
    assert not verdict.passed
    assert ("snapshot s: n2's channel state from n1 holds msg_id 9, which the trace never "
            "shows n1 writing to n2") in verdict.detail


def test_a_message_in_flight_that_the_log_and_the_state_both_leave_out_fails(
        tmp_path: Path) -> None:
    # From the logs alone nothing is wrong: n2 never logged taking msg 1.
    logs, trace = cut_with_a_broadcast_in_flight(n2_logs_it=False)
    verdict = judge(tmp_path, logs, trace, n2_holds=[])
    assert not verdict.passed
    assert ("snapshot s: n2's channel state from n1 lacks msg_id 1: n1 wrote it ahead of "
            "its marker, and it first reached n2 after n2 had recorded its state and sent "
            "its markers") in verdict.detail


def test_an_honest_log_behind_a_state_that_leaves_it_out_is_told_once(tmp_path: Path) -> None:
    logs, trace = cut_with_a_broadcast_in_flight()
    verdict = judge(tmp_path, logs, trace, n2_holds=[])
    assert not verdict.passed
    assert "misses msg_id 1" in verdict.detail and "lacks msg_id 1" not in verdict.detail


def test_a_recorded_message_sent_after_the_marker_fails(tmp_path: Path) -> None:
    logs, trace = cut_with_a_broadcast_in_flight(after_marker=True)
    verdict = judge(tmp_path, logs, trace, n2_holds=[1, 3])
    assert not verdict.passed
    assert ("n2's channel state from n1 holds msg_id 3, which n1 wrote after its marker: not "
            "in transit across the cut") in verdict.detail


def test_a_marker_the_trace_never_carried_fails(tmp_path: Path) -> None:
    logs, trace = cut_with_a_broadcast_in_flight()
    logs["n1"][4]["to"] = {"n2": 7}
    logs["n2"][4]["msg_id"] = 7
    verdict = judge(tmp_path, logs, trace, n2_holds=[1])
    assert not verdict.passed
    assert "n1's marker for it to n2 (msg_id 7, as the logs name it) never appears in the " \
        "trace" in verdict.detail
