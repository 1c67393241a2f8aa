"""``dchaos explore`` end to end on a PBFT replica whose bug only a twin that hears clients
in another order shows: tests/broken_nodes/pbft_trusts_primary.py commits on the primary's
pre-prepare alone. It passes the healthy scenarios and the shipped ``twins.yaml`` (whose
twin hears clients as its original does), so no shipped scenario of its kind catches it:
exploration has to draw the twin, with a reorder window, find the failure, and shrink it
to a scenario whose cluster section holds the twin the failure needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_dchaos.scenario.loader import load_scenario
from tests.builders import registry

DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]
SCENARIOS = Path(__file__).parent.parent.parent / "scenarios" / "pbft"
TRUSTS_PRIMARY = Path(__file__).parent.parent / "broken_nodes" / "pbft_trusts_primary.py"
NODE = f"{sys.executable} {TRUSTS_PRIMARY}"

HEALTHY = """\
name: short-pbft
protocol: pbft
cluster: {nodes: 4}
network: {latency: 1ms}
workload: {clients: 8, rate: 200/s, duration: 3s, recovery: 2s}
checks: [agreement, validity, linearizable, {liveness: {within: 2s}}]
seed: 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("shipped", ["healthy.yaml", "twins.yaml"])
def test_no_shipped_healthy_or_twins_scenario_catches_the_trusting_replica(
        tmp_path: Path, shipped: str, no_leaks: None) -> None:
    done = subprocess.run([*DCHAOS, "run", str(SCENARIOS / shipped), "--node-command", NODE,
                           "--report", str(tmp_path / "report"), "-q",
                           "--toxiproxy", "embedded"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_explore_draws_a_reordering_twin_finds_the_trusting_replica_and_keeps_the_twin(
        tmp_path: Path, no_leaks: None) -> None:
    scenario = tmp_path / "healthy.yaml"
    scenario.write_text(HEALTHY)
    out = tmp_path / "out"
    # Seed 92 with one fault at most: the first two schedules both twin the primary, so
    # whichever fails first, it is through the twin. Not a lucky seed: of exploration seeds
    # 1-8 (eight schedules each, three faults at most), 1-5 found the bug through a twin of
    # n1, 7 and 8 through a Byzantine primary's view change (a backup had executed on the
    # pre-prepare alone), and 6 drew no twin of n1 in eight schedules and found nothing.
    # Seed 10 once failed first through a bridge that forced a view change beside a twin of
    # n3 - the bug, by another road, but not the one this test is about. The shrink budget
    # ends soon after the twin was tried without.
    done = subprocess.run(
        [*DCHAOS, "explore", str(scenario), "--budget", "90s", "--runs", "6",
         "--shrink-budget", "35s", "--report", str(out), "--seed", "92", "--confirm", "2",
         "--max-faults", "1",
         "--node-command", NODE, "--toxiproxy", "embedded"],
        capture_output=True, text=True, timeout=300)
    said = done.stdout + done.stderr  # what every assertion below shows when it fails
    assert done.returncode == 1, said
    assert "twin of n1" in done.stderr, said  # progress names the twin a schedule drew

    report = json.loads((out / "explore.json").read_text())
    found = report["found"]
    assert "agreement" in found["failed_checks"], said
    (twin,) = found["twins"]
    assert twin["node"] == "n1" and twin["reorder"].endswith("ms"), said
    steps = report["shrink"]["steps"]
    # Every fault goes (the twin alone is the bug's trigger); without the twin it passes.
    assert steps[0]["faults"] == [] and steps[0]["still_fails"], said
    dropped = next(s for s in steps if s["detail"] == "the twin of n1")
    assert dropped["still_fails"] is False and "twins" not in dropped["run"], said
    assert report["shrink"]["run"]["twins"] == [twin], said

    # minimal.yaml is an ordinary scenario with the twin in its cluster section.
    minimal = load_scenario(out / "minimal.yaml", registry())
    assert minimal.faults == ()
    (kept,) = minimal.cluster.twins
    assert (kept.node, list(kept.sees)) == ("n1", twin["sees"]) and kept.reorder > 0
    assert report["minimal"]["rerun"]["verdict"] == "fail", said
