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
HEALTHY = ROOT / "scenarios" / "pbft" / "healthy.yaml"
HONEST_ONLY = ROOT / "tests" / "nodes" / "pbft_honest_only.py"


@pytest.mark.slow
def test_a_refused_byzantine_fault_turns_byzantine_shapes_off(
        tmp_path: Path, no_leaks: None) -> None:
    # Seed 1 draws a Byzantine fault of the leader in its first schedule.
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dchaos.cli", "explore", str(HEALTHY), "--budget", "3m",
         "--runs", "3", "--seed", "1", "--report", str(tmp_path), "--toxiproxy", "embedded",
         "--node-command", f"{sys.executable} {HONEST_ONLY}"],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no Byzantine behaviours from now on" in done.stderr  # the progress lines
    runs = json.loads((tmp_path / "explore.json").read_text())["runs"]
    first, rest = runs[0], runs[1:]
    assert first["verdict"] == "error" and first["refused"], first
    assert "cannot turn" in first["detail"]
    assert rest and all(r["verdict"] == "pass" and not r["refused"] for r in rest), rest
    assert not any(f.get("byzantine") for r in rest for f in r["faults"])
