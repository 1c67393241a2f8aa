"""The blocking check on a run built from what scenarios/txn/2pc-crash-after-decision.yaml
showed with seeds 21-23: a decision the coordinator sent just before its kill arrived just
after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dchaos.families.txn.checks.blocking import Blocking
from pytest_dchaos.families.txn.checks.common import InDoubtOptions
from pytest_dchaos.record.history import INFO, OK, Op
from pytest_dchaos.record.result import RunRecord
from tests.builders import fault, history, record, txn
from tests.families.txn.runs import noted, request

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


# -- in doubt, against what the clients were told and read (dchaos_state_ok.txns) --------

def tied_run(tmp_path: Path, *calls: list[Op], versions: bool = True) -> RunRecord:
    """The crash run with a history: ``calls``, c1's first started n1.1.313 (key 1 = 1,
    which only n2, its participant, lists once committed); n1 ties it to c1's call."""
    rec = crash_run(tmp_path, DOWN + 0.0042)
    rec.history = history(*calls)
    rec.history.t0 = T0
    noted(rec)
    rec.node_states["n1"]["txns"] = {"n1.1.313": request("c1")}
    if versions:
        rec.node_states["n2"]["versions"] = {"1": [1]}
    return rec


def committing(end: float | None) -> list[Op]:
    """c1's call that started n1.1.313: it ended at ``end`` (None: never: n1 died)."""
    return txn("c1", [["w", 1, 1]], DOWN - 0.3, end, OK if end is not None else INFO)


def test_a_read_of_the_write_a_participant_says_is_undecided_fails(tmp_path: Path) -> None:
    # c2 read n1.1.313's write to n2's key while n2 says it was blocked, locks held.
    rec = tied_run(tmp_path, committing(None), txn("c2", [["r", 1, 1]], DOWN + 0.5, DOWN + 0.6,
                                                     node="n3"))
    verdict = Blocking().check(OPTIONS, rec)
    assert not verdict.passed
    assert verdict.detail.startswith(
        "n2 reports n1.1.313 (started by txn 1 (c1's request msg_id 1 to n1 at 3.10s)) "
        "undecided from 3.45s to 5.50s, but txn 2 (c2's request msg_id 1 to n3 at 3.90s) "
        "read its write key 1 = 1, which only n2 lists, between 3.90s and 4.00s")
    assert verdict.evidence == "reported"


def test_a_read_once_the_participant_decided_passes(tmp_path: Path) -> None:
    rec = tied_run(tmp_path, committing(None), txn("c2", [["r", 1, 1]], BACK + 0.1, BACK + 0.2,
                                                     node="n3"))
    verdict = Blocking().check(OPTIONS, rec)
    assert verdict.passed, verdict.detail
    assert verdict.detail.endswith("2 of 2 in doubt tied to a client call, and set against "
                                   "what its client was told and what clients read)")


def test_without_txns_the_same_read_is_not_judged(tmp_path: Path) -> None:
    rec = tied_run(tmp_path, committing(None), txn("c2", [["r", 1, 1]], DOWN + 0.5, DOWN + 0.6,
                                                     node="n3"))
    del rec.node_states["n1"]["txns"]
    verdict = Blocking().check(OPTIONS, rec)
    assert verdict.passed, verdict.detail
    assert verdict.detail.endswith("no node lists the requests its transactions came from "
                                   "(dchaos_state_ok.txns, docs/nodes/txn.md), so nothing in "
                                   "doubt was set against the clients)")


def test_a_commit_acknowledged_before_the_crash_but_missing_from_the_log_fails(
        tmp_path: Path) -> None:
    rec = tied_run(tmp_path, committing(DOWN - 0.2))
    rec.node_states["n1"]["recovered"]["n1.1.313"] = "presumed abort"
    verdict = Blocking().check(OPTIONS, rec)
    assert not verdict.passed
    assert verdict.detail.startswith(
        "n1 reports it found n1.1.313 in its log as 'presumed abort', but the client call "
        "that started it, txn 1 (c1's request msg_id 1 to n1 at 3.10s), was told it "
        "committed (txn_ok) at 3.20s, before n1 went down at 3.40s: a commit it "
        "acknowledged was not in its log")


def test_a_client_told_before_the_crash_shows_the_coordinator_had_decided(
        tmp_path: Path) -> None:
    # n1 reports no recovery at all: only c1's answer shows that n1.1.313, for which n2
    # and n3 were in doubt, had been decided (the scenario asks for that case).
    rec = tied_run(tmp_path, committing(DOWN - 0.2))
    del rec.node_states["n1"]["recovered"]
    verdict = Blocking().check(OPTIONS, rec)
    assert verdict.passed, verdict.detail
    assert (verdict.figures["after_decision"], verdict.figures["before_decision"]) == (2, 0)
    del rec.node_states["n1"]["txns"]
    rec.derived.clear()
    assert not Blocking().check(OPTIONS, rec).passed  # without the tie: not shown


def test_a_blocked_span_that_names_its_coordinator_needs_no_id_convention(
        tmp_path: Path) -> None:
    # The same run from a node whose transaction ids say nothing of their coordinator:
    # each blocked span names it instead.
    rec = crash_run(tmp_path, DOWN + 0.5)
    renamed = {"n1.1.313": "tx-9f2c", "n1.1.325": "tx-77aa"}
    for state in rec.node_states.values():
        spans = state.get("blocked") or {}
        state["blocked"] = {renamed[t]: {**span, "coordinator": "n1"}
                            for t, span in spans.items()}
    verdict = Blocking().check(OPTIONS, rec)
    assert not verdict.passed
    assert verdict.detail.startswith("n2 decided tx-77aa at +0.50s, while its coordinator n1 "
                                     "was still down")
