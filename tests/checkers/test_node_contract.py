"""``node_contract``: no node printed garbage on stdout or exited on its own."""

from __future__ import annotations

from pytest_dchaos.checkers.node_contract import NodeContract
from pytest_dchaos.record.result import IncidentRecord, Verdict
from tests.builders import check_options, record


def judge(*incidents: IncidentRecord) -> Verdict:
    return NodeContract().check(check_options("node_contract"), record(incidents=incidents))


def test_passes_without_incidents() -> None:
    verdict = judge()
    assert verdict.passed
    assert verdict.detail == "every node spoke only JSON messages and none crashed"


def test_other_incident_kinds_are_not_violations() -> None:
    assert judge(IncidentRecord(1.0, "n1", "slow_start", "took 2s to answer init")).passed


def test_fails_naming_node_time_what_it_did_and_its_log() -> None:
    verdict = judge(
        IncidentRecord(2.5, "n2", "bad_output", "printed 'hello' on stdout"),
        IncidentRecord(4.0, "n3", "crash", "exited with code 1"),
    )
    assert not verdict.passed
    assert verdict.detail == (
        "2 contract violation(s): n2 at 2.50s: printed 'hello' on stdout; "
        "n3 at 4.00s: exited with code 1 — see nodes/n2/stderr.log, nodes/n3/stderr.log in "
        "the report folder")
    assert [i["node"] for i in verdict.witness["incidents"]] == ["n2", "n3"]


def test_a_lost_agent_is_a_violation() -> None:
    verdict = judge(IncidentRecord(1.0, "n1", "agent_lost", "control channel closed"))
    assert not verdict.passed
    assert "n1 at 1.00s: control channel closed" in verdict.detail


def test_many_violations_are_summarised() -> None:
    verdict = judge(*(IncidentRecord(float(i), "n1", "bad_output", f"line {i}")
                      for i in range(12)))
    assert not verdict.passed
    assert verdict.detail.startswith("12 contract violation(s) (and 2 more): ")
    assert "line 9" in verdict.detail and "line 10" not in verdict.detail
    assert verdict.detail.endswith("see nodes/n1/stderr.log in the report folder")
