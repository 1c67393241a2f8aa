"""``dchaos explore --workers``: search runs side by side in worker processes
(pytest_dchaos/explore/pool.py, pytest_dchaos/explore/worker.py), from the worker's
protocol to whole explorations: a healthy scenario whose runs overlap and all pass, and a
broken node whose failure two workers find."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_dchaos.explore.pool import Job, ProcessPool

ROOT = Path(__file__).parent.parent.parent
DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]

SMALL = """\
name: small-broadcast
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 2, rate: 20/s, duration: 2s, recovery: 2s}
checks: [convergence, no_invented_values]
seed: 1
"""


def test_a_worker_answers_a_schedule_it_cannot_load_with_an_error_run(
        tmp_path: Path, no_leaks: None) -> None:
    # A real worker process, and nothing for it to start: the job's scenario is invalid.
    pool = ProcessPool(1, tmp_path / "workers")
    try:
        assert pool.idle() == 1
        pool.submit(Job(number=7, seed=3, faults=[], shapes=[], text="name: x\n",
                        where="broken.yaml (generated schedule)",
                        report_dir=str(tmp_path / "runs" / "0007")))
        assert pool.idle() == 0
        [tried] = pool.wait()
    finally:
        pool.close()
    assert (tried.number, tried.worker, tried.verdict) == (7, 1, "error")
    assert "broken.yaml (generated schedule)" in tried.detail
    assert "protocol" in tried.detail
    # A worker that logged nothing leaves no log behind.
    assert not (tmp_path / "workers").exists()


def explore(scenario: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DCHAOS, "explore", str(scenario), "--report", str(out),
                           "--toxiproxy", "embedded", "--workers", "2", *flags],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_two_workers_run_four_healthy_schedules_side_by_side(
        tmp_path: Path, no_leaks: None) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(SMALL)
    done = explore(scenario, tmp_path / "out", "--budget", "3m", "--runs", "4", "--seed", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "explore.json").read_text())
    assert report["workers"] == 2 and report["found"] is None
    assert report["stopped_by"] == "runs"
    runs = report["runs"]
    assert [(r["run"], r["schedule"], r["phase"], r["verdict"]) for r in runs] == [
        (k, k, "search", "pass") for k in (1, 2, 3, 4)]
    assert {r["worker"] for r in runs} == {1, 2}
    # Side by side: runs 1 and 2 were both started before either finished.
    first, second = runs[0], runs[1]
    assert second["started_s"] < first["started_s"] + first["seconds"]
    for k in (1, 2, 3, 4):
        assert f"run {k} (worker " in done.stderr
    # Each run had its own folder (runs/0001 ...), removed as it passed.
    assert list((tmp_path / "out" / "runs").iterdir()) == []

    # The same seed one run at a time draws the same schedules.
    alone = explore(scenario, tmp_path / "alone", "--budget", "1m", "--runs", "1",
                    "--seed", "3", "--workers", "1")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    one = json.loads((tmp_path / "alone" / "explore.json").read_text())["runs"]
    assert one[0]["faults"] == runs[0]["faults"] and one[0]["worker"] is None


@pytest.mark.slow
def test_two_workers_find_the_coordinator_that_decides_before_logging(
        tmp_path: Path, no_leaks: None) -> None:
    healthy = ROOT / "scenarios" / "txn" / "healthy-2pc.yaml"
    broken = ROOT / "tests" / "broken_nodes" / "txn_decides_before_logging.py"
    # Seed 1's first schedules crash the coordinator (see test_explore_leader.py); the
    # shrink budget is short: finding it is what this test is about.
    done = explore(healthy, tmp_path / "out", "--budget", "3m", "--runs", "4", "--seed", "1",
                   "--confirm", "1", "--shrink-budget", "1s",
                   "--node-command", f"{sys.executable} {broken}")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "explore.json").read_text())
    found = report["found"]
    assert "atomicity" in found["failed_checks"], found
    searched = [r for r in report["runs"] if r["phase"] == "search"]
    # The failing search run with the lowest k is the one found, and its folder kept.
    failing = [r["run"] for r in searched if r["verdict"] == "fail"]
    assert found["run"] == found["schedule"] == min(failing)
    assert Path(found["report_dir"]).is_dir()
    assert all(r["worker"] in (1, 2) for r in searched)
    assert (tmp_path / "out" / "minimal.yaml").exists()
