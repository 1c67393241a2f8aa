"""The fifo_channels check on hand-built runs: the node's log against what its agent saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.checks.fifo_channels import FifoChannels
from pytest_dchaos.record.result import Verdict
from tests.families.vector_clock.test_checks import Event, clocked, ev, run


def wire(*steps: tuple[str, str, int, str]) -> list[dict[str, Any]]:
    """A trace from steps in the agents' order: ``("write", src, msg_id, dest)`` when the
    sender writes a message (again, for a retransmission), ``("hand", ...)`` when the
    receiver's agent hands the latest copy over."""
    trace: list[dict[str, Any]] = []
    latest: dict[tuple[str, int, str], str] = {}
    for number, (step, src, msg_id, dest) in enumerate(steps):
        common = {"t": 1.0 + number / 100, "src": src, "dest": dest, "type": "vc_x",
                  "size": 1}
        if step == "write":
            latest[(src, msg_id, dest)] = mid = f"{src}:1.{number}"
            trace.append({**common, "ev": "send", "id": mid, "mi": msg_id})
        else:
            trace.append({**common, "ev": "recv", "id": latest[(src, msg_id, dest)]})
    return trace


def sends(node: str, *msg_ids: int, dest: str = "n2") -> list[Event]:
    return [ev(node, 0, "send", what="transfer", amount=1, to={dest: m}) for m in msg_ids]


def takes(node: str, *msg_ids: int, src: str = "n1") -> list[Event]:
    return [ev(node, 0, "receive", what="transfer", amount=1, msg_id=m, **{"from": src})
            for m in msg_ids]


def judge(tmp_path: Path, logs: dict[str, list[Event]],
          trace: list[dict[str, Any]]) -> Verdict:
    clocked(logs, trace)
    return FifoChannels().check(NoOptions(), run(tmp_path, logs, trace))


def test_a_channel_put_back_in_order_after_the_transport_reordered_it_passes(
        tmp_path: Path) -> None:
    # 2 overtakes 1 on the wire; n2 drops it, takes 1, then 2's retransmission.
    trace = wire(("write", "n1", 1, "n2"), ("write", "n1", 2, "n2"), ("hand", "n1", 2, "n2"),
                 ("hand", "n1", 1, "n2"), ("write", "n1", 2, "n2"), ("hand", "n1", 2, "n2"))
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1, 2)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, 2)]}
    verdict = judge(tmp_path, logs, trace)
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert verdict.figures["reordered_in_transport"] == 1
    assert "handed over 1 out of order and the nodes put them back" in verdict.detail


def test_taking_messages_in_arrival_order_fails(tmp_path: Path) -> None:
    trace = wire(("write", "n1", 1, "n2"), ("write", "n1", 2, "n2"), ("hand", "n1", 2, "n2"),
                 ("hand", "n1", 1, "n2"))
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1, 2)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 2, 1)]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert ("n2 took msg_id 1 from n1 (its event 3) after msg_id 2, which n1 wrote after "
            "it: channel n1 → n2 not FIFO") in verdict.detail


def test_a_receive_the_trace_never_carried_fails(tmp_path: Path) -> None:
    trace = wire(("write", "n1", 1, "n2"), ("hand", "n1", 1, "n2"), ("write", "n1", 2, "n2"))
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1, 2)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, 2, 3)]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert ("n2's log (event 3) takes msg_id 2 from n1, but the trace shows it written to "
            "n2 and never handed over") in verdict.detail
    assert ("n2's log (event 4) takes msg_id 3 from n1, but the trace never shows n1 "
            "writing msg_id 3 to n2") in verdict.detail


def test_a_message_from_another_sender_is_not_on_this_channel(tmp_path: Path) -> None:
    trace = wire(("write", "n3", 1, "n2"), ("hand", "n3", 1, "n2"))
    logs = {"n3": [ev("n3", 1, "start"), *sends("n3", 1)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, src="n1")]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert "never shows n1 writing msg_id 1 to n2" in verdict.detail


def test_a_message_skipped_on_its_channel_fails(tmp_path: Path) -> None:
    trace = wire(*[step for m in (1, 2, 3) for step in (("write", "n1", m, "n2"),
                                                        ("hand", "n1", m, "n2"))])
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1, 2, 3)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, 3)]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert ("n2 took msg_id 3 from n1 but never msg_id 2, which n1 wrote before it (it "
            "reached n2): a gap in channel n1 → n2") in verdict.detail


def test_a_message_taken_twice_fails(tmp_path: Path) -> None:
    trace = wire(("write", "n1", 1, "n2"), ("hand", "n1", 1, "n2"), ("write", "n1", 1, "n2"),
                 ("hand", "n1", 1, "n2"))
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, 1)]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert "takes msg_id 1 from n1 a second time (first at event 2)" in verdict.detail


def test_a_log_that_takes_a_message_before_it_arrived_fails(tmp_path: Path) -> None:
    # n2 wrote its message to n3 before n1's reached it, but logs taking n1's first.
    trace = wire(("write", "n1", 1, "n2"), ("write", "n2", 1, "n3"), ("hand", "n1", 1, "n2"),
                 ("hand", "n2", 1, "n3"))
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1), *sends("n2", 1, dest="n3")],
            "n3": [ev("n3", 1, "start"), *takes("n3", 1, src="n2")]}
    verdict = judge(tmp_path, logs, trace)
    assert not verdict.passed
    assert ("n2's log takes msg_id 1 from n1 (event 2) before it sends msg_id 1 to n3 "
            "(event 3), but its agent wrote that send before the message from n1 reached "
            "it") in verdict.detail
    # The same log in the order the agent saw passes.
    trace = wire(("write", "n1", 1, "n2"), ("hand", "n1", 1, "n2"), ("write", "n2", 1, "n3"),
                 ("hand", "n2", 1, "n3"))
    for events in logs.values():
        for event in events:
            event.pop("vc", None)
    assert judge(tmp_path, logs, trace).passed


def test_what_a_killed_agent_did_not_flush_is_not_held_against_the_node(
        tmp_path: Path) -> None:
    # n1's agent lost its records (killed with its container): n2's agent handed over a
    # message of n1's that n1's trace never shows written. n2's log takes msg 1, whose
    # handover the trace cannot tie to it: no fault, and the verdict says why.
    trace = wire(("write", "n1", 2, "n2"), ("hand", "n1", 2, "n2"))
    trace.insert(0, {"t": 0.5, "ev": "recv", "id": "n1:1.lost", "src": "n1", "dest": "n2",
                     "type": "vc_x", "size": 1})
    logs = {"n1": [ev("n1", 1, "start"), *sends("n1", 1, 2)],
            "n2": [ev("n2", 1, "start"), *takes("n2", 1, 2)]}
    verdict = judge(tmp_path, logs, trace)
    assert verdict.passed, verdict.detail
    assert verdict.figures["trace_incomplete"] == ["n1"]
    assert "the trace lost records of n1" in verdict.detail
    # With n1's trace whole, the same log claims a receive that never arrived.
    verdict = judge(tmp_path, logs, trace[1:])
    assert not verdict.passed
