"""A real local run writes report.html, and ``dchaos report`` makes the same page again."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from pytest_dchaos.cli import main
from pytest_dchaos.record import page
from pytest_dchaos.run.runner import RunOptions, run_path
from tests.report.folders import figures

SCENARIO = """\
name: report-page
protocol: gossip
cluster: {nodes: 3}
network: {latency: 2ms}
workload: {clients: 2, rate: 30/s, duration: 4s, recovery: 4s}
faults:
  - {at: 1s, kill: n3, duration: 1.5s}
checks:
  - convergence: {within: 4s}
  - failure_detection: {within: 3s}
seed: 5
"""


@pytest.mark.slow
def test_a_run_writes_its_page_and_dchaos_report_makes_it_again(
        tmp_path: Path, no_leaks: None) -> None:
    path = tmp_path / "report-page.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    directory = tmp_path / "report"
    result = run_path(path, RunOptions(report_dir=directory))
    text = (directory / page.PAGE).read_text()
    assert f"<h1><span class=\"status-{'PASSED' if result.passed else 'FAILED'}\">" in text
    assert text.count("plotly.js v") >= 1 and '<pre id="scenario-yaml">name: report-page' in text
    stored = json.loads((directory / "result.json").read_text())
    assert stored["run"]["protocol"] == "gossip" and stored["run"]["t0"] > 0

    charts = figures(text)
    timeline = charts["timeline"]["layout"]["yaxis"]["categoryarray"]
    assert timeline[:4] == ["n1", "n2", "n3", "f1 kill"]
    assert {"n1 sees", "n2 sees", "n3 sees"} <= set(timeline)
    down = next(t for t in charts["timeline"]["data"] if t["name"] == "down")
    assert down["y"] == ["n3"] and 1.4 < down["x"][0] < 1.8

    sends = set()
    with open(directory / "trace.jsonl") as trace:
        for line in trace:
            event = json.loads(line)
            if event["ev"] in ("send", "dup") and event["dest"].startswith("n"):
                sends.add(event["id"])
    drawn = sum(len(t["x"]) // 3 for t in charts["spacetime"]["data"]
                if t["mode"] == "lines" and t["name"] != "dropped")
    assert f"{len(sends)} node-to-node message(s) drawn" in text
    assert 0 < drawn <= len(sends)

    before = {n: (directory / n).read_bytes() for n in (page.PAGE, "summary.md")}
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    for name in before:
        (copy / name).unlink()
    assert main(["report", str(copy)]) == 0
    assert {n: (copy / n).read_bytes() for n in before} == before
