"""Reading a report folder back, and ``dchaos report DIR``: the page and summary made again
from the files alone, and one clear line for what is not a report folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_dchaos.cli import main
from pytest_dchaos.families.gossip.family import Gossip
from pytest_dchaos.record import report
from pytest_dchaos.record.folder import ReportFolder, ReportFolderError
from pytest_dchaos.record.result import FaultEvent, IncidentRecord, RunResult, Verdict
from tests.builders import history, read, record
from tests.report.folders import write_folder


def written_by_a_run(directory: Path) -> Path:
    """A folder as report.write leaves it after a run (no cluster: a record made by hand)."""
    run = record(history(read([1], 0.1, 0.2)), faults=[
        FaultEvent(1.0, "start", "f1", "kill", "kill n2", ("n2",), "crash"),
        FaultEvent(2.0, "end", "f1", "kill", "kill n2", ("n2",), "crash")],
        phases={"workload_end": 3.0}, incidents=[IncidentRecord(1.5, "n1", "crash", "boom")])
    result = RunResult("unit", passed=True, seed=3,
                       checks=[Verdict("convergence", "pass", "fine", evidence="both")],
                       stats={"ops": {"total": 1, "ok": 1, "fail": 0, "info": 0}},
                       run_id="r1", report_dir=directory, scenario_path="unit.yaml",
                       rerun_flags=("--node-command", "./my node"))
    report.write(result, run, [], lambda r, d: ["`extra.txt`: the family's own"],
                 Gossip().report_lanes)
    return directory


def test_the_run_keeps_what_the_summary_needs(tmp_path: Path) -> None:
    folder = ReportFolder.load(written_by_a_run(tmp_path / "r"))
    assert folder.facts.protocol == "gossip" and folder.facts.nodes == ("n1", "n2", "n3")
    assert folder.facts.t0 == 0.0 and folder.facts.phases == {"workload_end": 3.0}
    assert folder.facts.incidents == (IncidentRecord(1.5, "n1", "crash", "boom"),)
    assert folder.result.rerun_flags == ("--node-command", "./my node")
    assert [v.evidence for v in folder.result.checks] == ["both"]
    assert [e.key for e in folder.faults] == ["f1", "f1"]
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "- protocol: gossip, 3 nodes, implementation: reference" in summary
    assert "1.50s n1: crash: boom" in summary and "`extra.txt`: the family's own" in summary
    assert "--node-command './my node'" in summary
    assert "`report.html`" in summary


@pytest.mark.parametrize("make", ["run", "files"])
def test_dchaos_report_makes_the_same_page_and_summary_again(
        tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]) -> None:
    directory = (written_by_a_run(tmp_path / "r") if make == "run"
                 else write_folder(tmp_path / "r"))
    if make == "files":
        assert main(["report", str(directory)]) == 0
    before = {n: (directory / n).read_bytes() for n in ("report.html", "summary.md")}
    copy = tmp_path / "copied"
    shutil.copytree(directory, copy)
    for name in before:
        (copy / name).unlink()
    assert main(["report", str(copy)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{copy / 'summary.md'}")
    assert {n: (copy / n).read_bytes() for n in before} == before


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "no such folder"),
    ("file", "not a folder (give the report folder, not a file in it)"),
    ("empty", "result.json: missing, so"),
    ("not_run", "its summary.md says why the run ended before it was judged"),
    ("not_json", "result.json: not valid JSON"),
    ("not_result", "result.json: not a result dchaos wrote (seed is 'x', not a number)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, setup: str, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "dir"
    if setup == "file":
        target.write_text("x")
    elif setup != "missing":
        target.mkdir()
    if setup == "not_run":
        (target / "summary.md").write_text("# did not run")
    if setup == "not_json":
        (target / "result.json").write_text('{"scenario": "x", "pas')
    if setup == "not_result":
        (target / "result.json").write_text(json.dumps(
            {"scenario": "x", "passed": True, "seed": "x", "checks": []}))
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dchaos: error: ")
    assert message in err and str(target) in err
    assert not (target / "report.html").exists()


def test_a_folder_from_before_the_facts_were_kept(tmp_path: Path) -> None:
    directory = write_folder(tmp_path / "old", with_facts=False)
    assert main(["report", str(directory)]) == 0
    assert "protocol: unknown" in (directory / "summary.md").read_text()
    assert "No lanes of the protocol" in (directory / "report.html").read_text()


def test_torn_lines_are_left_out_and_named(tmp_path: Path) -> None:
    directory = write_folder(tmp_path / "torn")
    with open(directory / "history.jsonl", "a") as out:
        out.write('{"index": 8, "process": "c1", "ty')
    (directory / "states.json").write_text("[1, 2")
    folder = ReportFolder.load(directory)
    assert len(folder.history.ops) == 8 and folder.states == {}
    assert any(p.startswith("history.jsonl line 9 left out") for p in folder.problems)
    assert any(p.startswith("states.json left out") for p in folder.problems)


def test_load_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportFolderError, match="no such folder"):
        ReportFolder.load(tmp_path / "nowhere")
