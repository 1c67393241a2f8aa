"""docs/ci.md's GitHub Actions workflow (examples/ci/dchaos.yml): it is YAML, the doc shows
it as it is, and every command it runs works — each step's shell text is run here as the
runner would run it, on a scenario whose node does not exist, so nothing starts a cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci" / "dchaos.yml"
DOC = ROOT / "docs" / "ci.md"

SCENARIO = """\
name: ci-scenario
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 1, rate: 20/s, duration: 1s, recovery: 5s}
seed: 8
"""


def steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def step(name_starts: str) -> dict[str, Any]:
    (found,) = [s for s in steps() if str(s.get("name", "")).startswith(name_starts)]
    return found


def test_the_workflow_is_a_github_actions_workflow() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare on as true
    assert set(triggers) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    assert all("uses" in s or "run" in s for s in job["steps"])


def test_the_doc_shows_the_workflow_as_it_is() -> None:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", DOC.read_text(encoding="utf-8"),
                        flags=re.MULTILINE | re.DOTALL)
    assert blocks and blocks[0] == WORKFLOW.read_text(encoding="utf-8"), (
        "docs/ci.md's workflow differs from examples/ci/dchaos.yml: copy it over")


def test_it_installs_this_package_on_a_python_it_supports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert step("Install")["run"].split() == ["python", "-m", "pip", "install", project["name"]]
    python = next(s for s in steps() if s.get("uses", "").startswith("actions/setup-python"))
    version = tuple(int(x) for x in python["with"]["python-version"].split("."))
    assert version >= tuple(int(x) for x in re.findall(r"\d+", project["requires-python"]))


def test_the_reports_and_the_junit_file_are_kept_even_when_the_run_failed() -> None:
    upload = next(s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    kept = upload["with"]["path"].rstrip("/")
    run = step("Run the scenarios")["run"]
    assert re.search(rf"--junitxml={kept}/\S+\.xml", run)
    assert re.search(rf"--dchaos-report-dir={kept}/\S+", run)
    assert step("Summarise")["if"].startswith("always()")


def run_step(name: str, folder: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    """A step's shell text as GitHub runs it (``bash -e``), with this environment's tools."""
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", step(name)["run"]], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A user's repository: one scenario under scenarios/, its node a path that does not
    exist (set in the ini file, as a user may), so a run fails at once and starts nothing."""
    (tmp_path / "scenarios" / "gossip").mkdir(parents=True)
    (tmp_path / "scenarios" / "gossip" / "ok.yaml").write_text(SCENARIO)
    (tmp_path / "pytest.ini").write_text("[pytest]\ndchaos_node_command = ./no-such-node\n")
    return tmp_path


def test_every_command_of_the_workflow_runs(checkout: Path, no_leaks: None) -> None:
    summary = checkout / "summary.md"
    validated = run_step("Validate", checkout, summary)
    assert validated.returncode == 0, validated.stderr
    assert "scenarios/gossip/ok.yaml: ok" in validated.stdout
    # Every option of the pytest line is real (an unknown one exits 4, before any item):
    # the item fails as a run that could not start, and the JUnit file says so.
    ran = run_step("Run the scenarios", checkout, summary)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "could not run" in ran.stdout
    assert (checkout / "reports" / "junit.xml").exists()
    assert list((checkout / "reports" / "dchaos").glob("ci-scenario-*"))
    summarised = run_step("Summarise", checkout, summary)
    assert summarised.returncode == 0, summarised.stderr
    assert "| ci-scenario | error | - | - | `-` |" in summary.read_text()


def test_the_summary_names_failed_checks_seed_and_rerun(checkout: Path) -> None:
    (checkout / "reports").mkdir()
    (checkout / "reports" / "junit.xml").write_text(textwrap.dedent("""\
        <testsuites><testsuite name="pytest">
          <testcase classname="scenarios.a.yaml" name="healthy"><properties>
            <property name="dchaos_verdict" value="pass"/>
            <property name="dchaos_check.convergence" value="pass"/>
          </properties></testcase>
          <testcase classname="scenarios.b.yaml" name="lossy"><properties>
            <property name="dchaos_verdict" value="fail"/>
            <property name="dchaos_seed" value="5"/>
            <property name="dchaos_rerun" value="dchaos run scenarios/b.yaml --seed 5"/>
            <property name="dchaos_check.convergence" value="fail"/>
            <property name="dchaos_check.rejoin" value="unknown"/>
            <property name="dchaos_check.failure_detection" value="not_applicable"/>
          </properties><failure message="lossy: FAILED"/></testcase>
          <testcase classname="tests.test_x" name="test_plain"/>
        </testsuite></testsuites>
        """))
    summary = checkout / "summary.md"
    assert run_step("Summarise", checkout, summary).returncode == 0
    lines = summary.read_text().splitlines()
    assert lines[0] == "## Chaos scenarios"
    assert lines[3:] == [
        "| lossy | fail | convergence, rejoin | 5 | `dchaos run scenarios/b.yaml --seed 5` |"]
    (checkout / "reports" / "junit.xml").write_text(
        '<testsuites><testsuite><testcase name="healthy"><properties>'
        '<property name="dchaos_verdict" value="pass"/></properties></testcase>'
        "</testsuite></testsuites>")
    summary.unlink()
    assert run_step("Summarise", checkout, summary).returncode == 0
    assert summary.read_text().splitlines() == ["## Chaos scenarios", "Every scenario passed."]
