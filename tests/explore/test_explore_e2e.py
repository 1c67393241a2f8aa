"""``dchaos explore`` end to end, on a node with a bug no fault-free run shows: the plain
Maelstrom flooder (tests/nodes/naive_broadcast.py) forwards each value once, never retries
and keeps nothing across a restart, so it passes a healthy broadcast scenario and fails
convergence as soon as a fault loses a message or its memory. Nobody wrote that fault into
the scenario: exploration has to find it, shrink it, and hand back a scenario that fails
under ``dchaos run`` as it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_dchaos.scenario.loader import load_scenario
from tests.builders import registry

DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]
NAIVE = Path(__file__).parent.parent / "nodes" / "naive_broadcast.py"

HEALTHY = """\
name: short-broadcast
protocol: gossip
cluster: {nodes: 5, topology: grid}
workload: {clients: 2, rate: 20/s, duration: 3s, recovery: 2s}
checks:
  - convergence
  - no_invented_values
seed: 1
"""


@pytest.mark.slow
def test_explore_finds_shrinks_and_writes_a_scenario_that_fails_as_written(
        tmp_path: Path, no_leaks: None) -> None:
    scenario = tmp_path / "healthy.yaml"
    scenario.write_text(HEALTHY)
    out = tmp_path / "out"
    done = subprocess.run(
        [*DCHAOS, "explore", str(scenario), "--budget", "60s", "--shrink-budget", "35s",
         "--report", str(out), "--seed", "1", "--confirm", "2",
         "--node-command", f"{sys.executable} {NAIVE}", "--toxiproxy", "embedded"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fault coverage:" in done.stdout
    assert "run 1:" in done.stderr  # progress, run by run

    report = json.loads((out / "explore.json").read_text())
    found = report["found"]
    assert found is not None and "convergence" in found["failed_checks"]
    assert found["confirmed"]["runs"] == 2
    searched = [r for r in report["runs"] if r["phase"] == "search"]
    assert searched[-1]["verdict"] == "fail"
    assert all(r["verdict"] == "pass" for r in searched[:-1])
    assert report["shrink"]["steps"], "shrinking tried nothing"
    # The first step removes every fault: a healthy run of this node passes.
    first = report["shrink"]["steps"][0]
    assert first["faults"] == [] and first["still_fails"] is False
    minimal = report["shrink"]["minimal"]
    assert 1 <= len(minimal) <= 2
    assert report["coverage"]

    # minimal.yaml is an ordinary scenario: the loader takes it, and it holds the
    # shrunk faults, the node it ran and the seed of the failing run.
    loaded = load_scenario(out / "minimal.yaml", registry())
    assert len(loaded.faults) == len(minimal)
    assert loaded.cluster.implementation.command is not None
    assert str(NAIVE) in loaded.cluster.implementation.command
    assert report["minimal"]["rerun"]["verdict"] == "fail"
    assert (out / "minimal-run" / "result.json").exists()

    rerun = subprocess.run([*DCHAOS, "run", str(out / "minimal.yaml"), "--report",
                            str(tmp_path / "rerun"), "-q", "--toxiproxy", "embedded"],
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert "FAIL  convergence" in rerun.stdout


SHORT_PBFT = """\
name: short-pbft
protocol: pbft
cluster: {nodes: 4}
network: {latency: 1ms}
workload: {clients: 8, rate: 200/s, duration: 4s, recovery: 4s}
checks: [agreement, validity, linearizable, {liveness: {within: 3s}}]
seed: 1
"""


@pytest.mark.slow
def test_reference_pbft_survives_the_traitors_its_agents_make(
        tmp_path: Path, no_leaks: None) -> None:
    """Exploration seed 731 draws a mutating replica first, then a replaying one, and no
    twin (the schedules depend on the seed alone). The reference replicas, one of four of them
    Byzantine, keep every promise: nothing is found, and each traitor took effect."""
    scenario = tmp_path / "pbft.yaml"
    scenario.write_text(SHORT_PBFT)
    out = tmp_path / "out"
    done = subprocess.run(
        [*DCHAOS, "explore", str(scenario), "--budget", "120s", "--runs", "2",
         "--report", str(out), "--seed", "731", "--toxiproxy", "embedded"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "explore.json").read_text())
    assert report["found"] is None
    runs = report["runs"]
    assert [r["shapes"] for r in runs] == [["mutate"], ["replay"]]
    assert not any(r["twins"] for r in runs)
    for run, option in zip(runs, ("mutate", "replay"), strict=True):
        [entry] = run["faults"]
        [traitor] = {link.split("->")[0] for link in entry["message"]["links"]}
        assert set(entry["message"]) == {option, "links"} and traitor.startswith("n")
        assert run["verdict"] == "pass", run["detail"]
        assert [e["took_effect"] for e in run["effects"]] == [True]
