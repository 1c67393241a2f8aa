"""The blocking check on a run built from what scenarios/txn/2pc-crash-after-decision.yaml
showed with seeds 21-23: a decision the coordinator sent just before its kill arrived just
after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dchaos.families.txn.checks.blocking import Blocking
from pytest_dchaos.families.txn.checks.common import InDoubtOptions
from pytest_dchaos.record.result import RunRecord
from tests.builders import fault, record

T0 = 1796284568.0
DOWN, BACK = 3.4023, 5.4973  # n1 killed, and restarted (seconds into the run)
OPTIONS = InDoubtOptions(within=1.0, require=True, cases=("after_decision",))


def at(offset: float) -> float:
    return T0 + offset


def message(number: int, src: str, dest: str, kind: str, sent: float, arrived: float
            ) -> list[dict[str, Any]]:
    mid = f"{src}:6c7123.{number}"
    return [{"t": at(sent), "ev": "send", "id": mid, "src": src, "dest": dest, "type": kind,
             "size": 114, "mi": number},
            {"t": at(arrived), "ev": "recv", "id": mid, "src": src, "dest": dest, "type": kind,
             "size": 114}]


def crash_run(tmp_path: Path, n2_decided: float) -> RunRecord:
    """n1 decided n1.1.313 and n1.1.325 (its decide messages were lost) and is killed.
    n2 and n3 wait, blocked, for n1.1.313 until n1 is back. For n1.1.325, n2 asked n1 just
    before the kill: n1's answer left 0.6 ms before it and arrived 1.6 ms after; n2 decided
    at ``n2_decided``."""
    trace = [
        *message(3130, "n1", "n2", "decision", DOWN - 0.0006, DOWN + 0.0016),
        *message(3201, "n1", "n2", "decision", BACK + 0.0010, BACK + 0.0016),
        *message(3202, "n1", "n3", "decision", BACK + 0.0010, BACK + 0.0018),
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in trace))
    rec = record(nodes=3, faults=[fault(DOWN, "start", "f2.1", "crash", ["n1"]),
                                  fault(BACK, "end", "f2.1", "crash", ["n1"])])
    rec.history.t0 = T0
    rec.trace_files = [path]
    rec.node_states = {
        "n1": {"recovered": {"n1.1.313": "logged commit", "n1.1.325": "logged commit"}},
        "n2": {"blocked": {
            "n1.1.313": {"since": at(DOWN + 0.047), "until": at(BACK + 0.003)},
            "n1.1.325": {"since": at(DOWN - 0.0543), "until": at(n2_decided)}}},
        "n3": {"blocked": {
            "n1.1.313": {"since": at(DOWN + 0.054), "until": at(BACK + 0.005)}}},
    }
    return rec


def test_a_decision_on_its_way_when_the_coordinator_died_is_not_a_failure_to_block(
        tmp_path: Path) -> None:
    # n2 forced its log and decided 2.6 ms after the answer arrived: 4.2 ms after the kill.
    verdict = Blocking().check(OPTIONS, crash_run(tmp_path, DOWN + 0.0042))
    assert verdict.passed, verdict.detail
    assert verdict.figures["in_doubt"] == 2
    assert verdict.detail.startswith("2 participant(s) blocked while their coordinator was "
                                     "down (0 before it decided, 2 after)")


def test_a_participant_that_decides_alone_later_still_did_not_block(tmp_path: Path) -> None:
    # The same answer arrived, but n2 decided half a second after it: on its own.
    verdict = Blocking().check(OPTIONS, crash_run(tmp_path, DOWN + 0.5))
    assert not verdict.passed
    assert verdict.detail.startswith("n2 decided n1.1.325 at +0.50s, while its coordinator n1 "
                                     "was still down: it did not block (the participants' "
                                     "blocked spans")


def test_without_a_trace_a_decision_after_the_crash_did_not_block(tmp_path: Path) -> None:
    rec = crash_run(tmp_path, DOWN + 0.0042)
    rec.trace_files = []
    verdict = Blocking().check(OPTIONS, rec)
    assert not verdict.passed
    assert "n2 decided n1.1.325 at +0.00s, while its coordinator n1 was still down" \
        in verdict.detail
