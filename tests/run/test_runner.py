"""One run, composed: where its report goes, and what a run that never got to judge
leaves there."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from pytest_dchaos.errors import DchaosError
from pytest_dchaos.run.progress import Progress
from pytest_dchaos.run.runner import Run, RunOptions, run_scenario
from tests.builders import registry, scenario

NO_SUCH_NODE = """\
name: never starts
protocol: gossip
cluster: {nodes: 2, implementation: {command: ./no-such-node}}
workload: {duration: 1s}
seed: 3
"""


def test_each_run_makes_a_folder_of_its_own(tmp_path: Path) -> None:
    runs = [Run(scenario(NO_SUCH_NODE), RunOptions(report_root=tmp_path), registry())
            for _ in range(2)]
    first, second = (run.report_dir for run in runs)
    assert first != second
    assert first.parent == second.parent == tmp_path
    assert re.fullmatch(rf"never_starts-\d{{8}}-\d{{6}}-{runs[0].run_id}", first.name)


def test_a_folder_name_can_be_given(tmp_path: Path) -> None:
    run = Run(scenario(NO_SUCH_NODE),
              RunOptions(report_root=tmp_path, report_name="test_it[a|b]"), registry())
    assert run.report_dir.name.startswith("test_it_a_b-")
    assert run.report_dir.name.endswith(f"-{run.run_id}")


def test_a_run_that_cannot_start_says_so_and_leaves_no_verdict(tmp_path: Path) -> None:
    # A folder used again (dchaos run --report DIR) that holds an earlier run's verdict.
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"passed": True}))
    (folder / "summary.md").write_text("# never starts: passed\n")
    with pytest.raises(DchaosError, match="does not exist") as raised:
        run_scenario(scenario(NO_SUCH_NODE), RunOptions(report_dir=folder), registry())
    assert not (folder / "result.json").exists()
    summary = (folder / "summary.md").read_text()
    assert summary.startswith("# never starts: did not run to the end, no verdict\n")
    assert str(raised.value) in summary and "seed: 3" in summary


def test_a_backend_that_runs_every_node_on_one_machine_says_it_ignores_placement(
        tmp_path: Path) -> None:
    placed = scenario(NO_SUCH_NODE.replace(
        "cluster: {nodes: 2, ", "cluster: {nodes: 2, placement: [{nodes: [n1], "
        "constraints: ['node.role == manager']}], "))
    stream = io.StringIO()
    with pytest.raises(DchaosError, match="does not exist"):
        run_scenario(placed, RunOptions(report_dir=tmp_path / "r",
                                        progress=Progress(stream=stream)), registry())
    assert ("note:   cluster.placement is ignored: the local backend runs every node on this "
            "machine (placement is for --backend swarm)") in stream.getvalue()
    stream = io.StringIO()
    with pytest.raises(DchaosError, match="does not exist"):
        run_scenario(scenario(NO_SUCH_NODE), RunOptions(report_dir=tmp_path / "s",
                                                        progress=Progress(stream=stream)),
                     registry())
    assert "placement" not in stream.getvalue()
