"""A node that cannot be switched Byzantine (most nodes nobody here wrote) is still
explored: the first Byzantine behaviour drawn is refused — the node does not list
``dchaos_byzantine`` — and the exploration says so and draws none from then on (its agent
can still make it a traitor by mutating or replaying its messages), instead of reporting
the refusal as a failure or stopping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
#: Safety only: what is judged here is how refusals are handled, not liveness.
SAFETY = """\
name: pbft-safety
protocol: pbft
cluster: {nodes: 4}
network: {latency: 1ms}
workload: {clients: 8, rate: 200/s, duration: 3s, recovery: 3s}
checks: [agreement, validity, linearizable]
seed: 1
"""
HONEST_ONLY = ROOT / "tests" / "nodes" / "pbft_honest_only.py"


@pytest.mark.slow
def test_a_refused_byzantine_fault_turns_byzantine_shapes_off(
        tmp_path: Path, no_leaks: None) -> None:
    # Seed 2 draws a Byzantine behaviour in its first schedule and none after it.
    scenario = tmp_path / "pbft.yaml"
    scenario.write_text(SAFETY)
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dchaos.cli", "explore", str(scenario), "--budget", "3m",
         "--runs", "3", "--seed", "2", "--report", str(tmp_path / "out"), "--toxiproxy",
         "embedded",
         "--node-command", f"{sys.executable} {HONEST_ONLY}"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no Byzantine behaviours from now on" in done.stderr  # the progress lines
    runs = json.loads((tmp_path / "out" / "explore.json").read_text())["runs"]
    first, rest = runs[0], runs[1:]
    assert first["verdict"] == "error" and first["refused"], first
    assert "cannot turn" in first["detail"]
    assert rest and all(r["verdict"] == "pass" and not r["refused"] for r in rest), rest
    assert not any(f.get("byzantine") for r in rest for f in r["faults"])
