"""Verdicts and results as result.json writes them."""

from __future__ import annotations

import shlex

from pytest_dchaos.record.result import RunResult, Verdict


def result(*verdicts: Verdict) -> RunResult:
    return RunResult("s", not any(v.failed for v in verdicts), 1, list(verdicts), {}, "r")


def test_a_verdict_carries_its_status_its_evidence_and_passed() -> None:
    judged = Verdict("agreement", "fail", "n2 and n3 differ at 4", {"seq": 4},
                     evidence="reported").to_json()
    assert judged["status"] == "fail" and judged["passed"] is False
    assert judged["evidence"] == "reported" and judged["witness"] == {"seq": 4}
    unjudged = Verdict("rejoin", "not_applicable", "no node answers members").to_json()
    assert unjudged["status"] == "not_applicable" and unjudged["passed"] is None


def test_not_applicable_fails_no_run_and_unknown_fails_it() -> None:
    ok = Verdict("convergence", "pass", "all values everywhere")
    na = Verdict("rejoin", "not_applicable", "no node answers members")
    assert result(ok, na).passed and result(ok, na).failed_checks() == []
    undecided = Verdict("linearizable", "unknown", "search over budget")
    assert not result(ok, na, undecided).passed
    assert result(ok, undecided).failed_checks() == [undecided]


def test_the_rerun_line_keeps_the_node_and_the_fault_layer_that_ran() -> None:
    from pytest_dchaos.record.report import rerun_command
    from pytest_dchaos.run.runner import RunOptions, rerun_flags

    options = RunOptions(node_command=("/opt/my node", "--fast"),
                         toxiproxy="http://127.0.0.1:8474")
    ran = RunResult("s", True, 7, [], {}, "r", scenario_path="s.yaml",
                    rerun_flags=rerun_flags(options))
    words = shlex.split(rerun_command(ran))
    assert words[:7] == ["dchaos", "run", "s.yaml", "--seed", "7", "--backend", "local"]
    assert shlex.split(words[words.index("--node-command") + 1]) == ["/opt/my node", "--fast"]
    assert words[words.index("--toxiproxy") + 1] == "http://127.0.0.1:8474"
    assert rerun_command(RunResult("s", True, 7, [], {}, "r", scenario_path="s.yaml")) == \
        "dchaos run s.yaml --seed 7 --backend local"
