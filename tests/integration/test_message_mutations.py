"""ByzzFuzz-style mutations on a real cluster: reference PBFT replicas, one of whose agents
changes a field of its messages by one and replays earlier ones, keep every promise PBFT
makes with one Byzantine replica of four, and the trace shows what the agent did."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dchaos.explore.coverage import firing_effects
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

# n1 is the primary of view 0: its pre-prepares are mutated too, so a view change follows.
SCENARIO = """\
name: pbft-mutated-primary
protocol: pbft
cluster: {nodes: 4}
network: {latency: 1ms}
workload: {clients: 12, rate: 300/s, duration: 5s, recovery: 4s}
faults:
  - {at: 1s, duration: 3s, message: {mutate: 0.2, replay: 0.2,
                                     links: {from: [n1], to: [n2, n3, n4]}}}
checks:
  - agreement
  - validity
  - linearizable
  - {liveness: {within: 3s}}
  - {suspects: {within: 1s}}
seed: 21
"""


@pytest.mark.slow
def test_reference_replicas_keep_their_promises_under_a_mutating_replaying_primary(
        tmp_path: Path, no_leaks: None) -> None:
    registry = Registry()
    scenario = parse_scenario(SCENARIO, str(tmp_path / "scenario.yaml"), registry)
    result = run_scenario(scenario, RunOptions(report_dir=tmp_path / "report",
                                               toxiproxy="embedded"), registry)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
    # The checks judged n2..n4 only: n1 is the Byzantine one.
    assert "3 honest replicas" in result.check("agreement").detail
    record = result.record
    assert record is not None
    trace = list(record.trace())
    events = [e for e in trace if e.get("src") == "n1"]
    mutated = [e for e in events if e["ev"] == "mutate"]
    assert mutated and all(e["why"].split()[0] in ("view", "seq", "stable") for e in mutated)
    assert any(e["ev"] == "replay" for e in events)
    assert not any(e["ev"] in ("mutate", "replay") for e in trace if e.get("src") != "n1")
    entry = {"at": "1s", "message": {"mutate": 0.2, "replay": 0.2}}
    [effect] = firing_effects(record, [entry])
    assert effect.took_effect is True
