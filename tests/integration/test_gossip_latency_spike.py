"""A latency spike too large for any failure detector that keeps its deadline: the
reference gossip nodes suspect members behind the slowed links (as any detector must),
and ``failure_detection`` excuses exactly those suspicions. Found by ``dchaos explore`` of
the healthy gossip scenario (seed 37), where it failed correct nodes before this rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dchaos.run.runner import RunOptions, run_scenario
from tests.builders import registry, scenario

SPIKE = """\
name: gossip-latency-spike
protocol: gossip
cluster: {nodes: 5, topology: grid}
network: {latency: 5ms, jitter: 1ms}
workload: {clients: 2, rate: 40/s, duration: 5s, recovery: 5s}
faults:
  - {at: 1.2s, duration: 1360ms, latency: {latency: 1000ms, jitter: 500ms}}
checks:
  - convergence: {within: 3s}
  - failure_detection: {within: 3s}
seed: 1
"""


@pytest.mark.slow
def test_the_reference_passes_a_spike_no_detector_could_see_through(
        tmp_path: Path, no_leaks: None) -> None:
    result = run_scenario(scenario(SPIKE), RunOptions(report_dir=tmp_path,
                                                      toxiproxy="embedded"), registry())
    verdict = result.check("failure_detection")
    assert verdict.passed, verdict.detail
    assert verdict.figures["false_positives"] == 0
    assert verdict.figures["excused_slow"] > 0, "the spike made no detector suspect anyone"
    assert result.check("convergence").passed
