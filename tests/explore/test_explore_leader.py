"""``dchaos explore`` finds a coordinator bug no shipped scenario shows (issue 14's example):
tests/broken_nodes/txn_decides_before_logging.py tells its participants "commit" before its
decision is in its log (which it writes in half-second batches), so a crash of the
coordinator inside that window leaves it presuming abort while they committed. Exploring
the healthy 2PC scenario — whose faults are none — must find it within a bounded number of
runs, shrink it to at most two faults, and the reference node must pass the very same
schedules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]
HEALTHY = ROOT / "scenarios" / "txn" / "healthy-2pc.yaml"
BROKEN = ROOT / "tests" / "broken_nodes" / "txn_decides_before_logging.py"
#: An exploration seed whose schedules crash a node in four of the first eight runs; each
#: such crash catches the broken coordinator in most runs (8 of 8 single ``kill: leader``
#: runs, when this was written), so the bound leaves room for timing.
SEED = "1"
RUNS = "8"


def explore(out: Path, runs: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DCHAOS, "explore", str(HEALTHY), "--budget", "4m", "--runs", runs, "--seed", SEED,
         "--report", str(out), "--toxiproxy", "embedded", *extra],
        capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_explore_finds_the_coordinator_that_decides_before_logging(
        tmp_path: Path, no_leaks: None) -> None:
    done = explore(tmp_path / "broken", RUNS, "--confirm", "2", "--shrink-budget", "25s",
                   "--node-command", f"{sys.executable} {BROKEN}")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "broken" / "explore.json").read_text())
    found = report["found"]
    assert "atomicity" in found["failed_checks"], found
    searched = [r for r in report["runs"] if r["phase"] == "search"]
    assert len(searched) <= int(RUNS)
    # A crash is what shows it: the schedule found kills or stops a node.
    assert any(f.get("kill") or f.get("stop") or f.get("restart") for f in found["faults"])
    minimal = report["shrink"]["minimal"]
    assert 1 <= len(minimal) <= 2, minimal
    assert (tmp_path / "broken" / "minimal.yaml").exists()

    # The reference coordinator forces its decision first: the same seed's schedules
    # (the same draws, leader-aimed faults included) find nothing.
    reference = explore(tmp_path / "reference", "2")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    ref_report = json.loads((tmp_path / "reference" / "explore.json").read_text())
    assert ref_report["found"] is None
    ref_runs = ref_report["runs"]
    assert len(ref_runs) == 2 and all(r["verdict"] == "pass" for r in ref_runs)
    # Same seed, same schedules: the reference node faced what the broken one did.
    shared = min(len(searched), len(ref_runs))
    assert [r["faults"] for r in ref_runs[:shared]] == [r["faults"] for r in searched[:shared]]
