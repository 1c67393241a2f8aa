"""The Gossip Glomers scenarios on a node nobody here wrote for pytest-dchaos: a plain
Maelstrom flooder, the first thing people write for challenge 3b."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import load_scenario

SCENARIOS = Path(__file__).parent.parent.parent / "scenarios" / "maelstrom"
NAIVE = (sys.executable, str(Path(__file__).parent.parent / "nodes" / "naive_broadcast.py"))


def run(name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = Registry()
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", registry)
    options = RunOptions(report_dir=tmp_path / "report", node_command=NAIVE,
                         toxiproxy="embedded")
    return run_scenario(scenario, options, registry)


@pytest.mark.slow
def test_a_plain_flooding_node_passes_challenge_3b(tmp_path: Path, no_leaks: None) -> None:
    result = run("broadcast-3b", tmp_path)
    assert result.passed, [(v.name, v.detail) for v in result.checks]


@pytest.mark.slow
def test_a_plain_flooding_node_loses_what_it_sent_across_a_partition_in_3c(
        tmp_path: Path, no_leaks: None) -> None:
    result = run("broadcast-3c", tmp_path)
    verdicts = {v.name: v for v in result.checks}
    # It forwards each value once and never retries: values broadcast on one side of a
    # partition never reach the other. That is the bug 3c exists to catch.
    assert not verdicts["convergence"].passed
    assert "lacks" in verdicts["convergence"].detail
    assert verdicts["no_invented_values"].passed
    assert verdicts["node_contract"].passed
