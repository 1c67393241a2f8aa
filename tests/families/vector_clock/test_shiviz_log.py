"""The shiviz_log check: clocks ShiViz accepts, and messages the trace carried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.checks.shiviz_log import ShivizLog
from pytest_dchaos.record.result import Verdict
from tests.families.vector_clock.test_checks import Event, clocked, ev, run
from tests.families.vector_clock.test_fifo_channels import wire


def exchange() -> tuple[dict[str, list[Event]], list[tuple[str, str, int, str]]]:
    """n1 sends msg 1 to n2, which takes it."""
    logs = {"n1": [ev("n1", 1, "start"), ev("n1", 2, "send", what="cbcast", to={"n2": 1})],
            "n2": [ev("n2", 1, "start"),
                   ev("n2", 2, "receive", what="cbcast", msg_id=1, **{"from": "n1"})]}
    return logs, [("write", "n1", 1, "n2"), ("hand", "n1", 1, "n2")]


def judge(tmp_path: Path, logs: dict[str, list[Event]],
          steps: list[tuple[str, str, int, str]]) -> Verdict:
    trace: list[dict[str, Any]] = wire(*steps)
    clocked(logs, trace)
    return ShivizLog().check(NoOptions(), run(tmp_path, logs, trace))


def test_a_log_of_what_travelled_passes_on_both(tmp_path: Path) -> None:
    verdict = judge(tmp_path, *exchange())
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert "their 1 message sends and 1 receives are what the trace carried" in verdict.detail


def test_a_log_that_leaves_out_a_message_it_wrote_fails(tmp_path: Path) -> None:
    logs, steps = exchange()
    verdict = judge(tmp_path, logs, [*steps, ("write", "n1", 2, "n2")])
    assert not verdict.passed
    assert "n1 wrote msg_id 2 (vc_x) to n2 (written at" in verdict.detail
    assert "but its log has no such send" in verdict.detail


def test_what_a_node_wrote_after_its_state_was_taken_is_not_missing(tmp_path: Path) -> None:
    logs, steps = exchange()
    trace = wire(*steps)
    trace.append({"t": 2.0, "ev": "client_out", "id": "", "src": "n1", "dest": "c1",
                  "type": "dchaos_state_ok", "size": 1})
    trace.append({"t": 2.1, "ev": "send", "id": "n1:1.late", "src": "n1", "dest": "n2",
                  "type": "vc_x", "size": 1, "mi": 2})
    clocked(logs, trace)
    verdict = ShivizLog().check(NoOptions(), run(tmp_path, logs, trace))
    assert verdict.passed, verdict.detail


def test_a_log_that_invents_a_send_fails(tmp_path: Path) -> None:
    logs, steps = exchange()
    logs["n1"].insert(1, ev("n1", 2, "send", what="cbcast", to={"n2": 5}))
    verdict = judge(tmp_path, logs, steps)
    assert not verdict.passed
    assert ("n1's event 2 sends msg_id 5 to n2, which n1 never wrote, though it wrote what "
            "its log sends to that peer after it") in verdict.detail


def test_a_last_send_that_never_left_is_no_fault(tmp_path: Path) -> None:
    # Logged, then the node died (or its window was full) before writing it.
    logs, steps = exchange()
    logs["n1"].append(ev("n1", 3, "send", what="cbcast", to={"n2": 2}))
    assert judge(tmp_path, logs, steps).passed


def test_a_log_that_invents_a_receive_fails(tmp_path: Path) -> None:
    logs, steps = exchange()
    logs["n2"].append(ev("n2", 3, "receive", what="cbcast", msg_id=3, **{"from": "n1"}))
    verdict = judge(tmp_path, logs, steps)
    assert not verdict.passed
    assert "n2's event 3 receives msg_id 3 from n1, which the trace never handed to n2" \
        in verdict.detail
