"""Every gossip checker catches a deliberately broken node — and passes the reference node.

Each case is one scenario run twice on the local backend: with a node from
``tests/broken_nodes/`` that has exactly one bug, the named check must fail with a detail
that points at the bug; with the reference node, the same scenario must pass. The second
half is what shows the check discriminates rather than always failing.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dchaos.registry import Registry
from pytest_dchaos.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

BROKEN = Path(__file__).parent.parent / "broken_nodes"
FAST_START = "params: {startup_grace_ms: 500}"


@dataclass(frozen=True)
class Case:
    node: str
    check: str
    expected: str  # in the failing verdict's detail
    scenario: str


CASES = [
    Case("gossip_no_forward", "convergence", "missing acknowledged value", """\
        cluster: {nodes: 3}
        workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 3s}
        checks: [convergence]
        """),
    Case("gossip_invents", "no_invented_values", "never broadcast", """\
        cluster: {nodes: 3}
        workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 3s}
        checks: [no_invented_values]
        """),
    Case("gossip_never_dead", "failure_detection", "late or missed detection", f"""\
        cluster: {{nodes: 4, {FAST_START}}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 3s}}
        faults: [{{at: 2s, kill: n3}}]
        checks: [{{failure_detection: {{within: 3s, nodes: [n3]}}}}]
        """),
    Case("gossip_trigger_happy", "failure_detection", "false positive", f"""\
        cluster: {{nodes: 5, {FAST_START}}}
        network: {{latency: 100ms}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 3s}}
        checks: [{{failure_detection: {{within: 3s}}}}]
        """),
    Case("gossip_no_rejoin", "rejoin", "not re-admitted", f"""\
        cluster: {{nodes: 4, {FAST_START}}}
        workload: {{clients: 1, rate: 20/s, duration: 8s, recovery: 8s}}
        faults: [{{at: 1s, partition: {{isolate: n2}}, duration: 4s}}]
        checks: [{{rejoin: {{within: 5s}}}}]
        """),
    # Flooding costs about n-1 messages per operation, batching far less: ten nodes and a
    # brisk rate set them apart (about 10 against 5 per operation here).
    Case("gossip_chatty", "msgs_per_op", "over the budget", """\
        cluster: {nodes: 10}
        workload: {clients: 4, rate: 160/s, duration: 4s, recovery: 3s}
        checks: [{msgs_per_op: {max: 8}}]
        """),
    Case("gossip_slow", "stable_latency", ">", """\
        cluster: {nodes: 4}
        network: {latency: 5ms}
        workload: {clients: 2, rate: 40/s, duration: 6s, recovery: 5s}
        checks: [{stable_latency: {max: 1500ms}}]
        """),
]


def run(case: Case, tmp_path: Path, node_command: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    text = f"name: {case.node}\nprotocol: gossip\nseed: 13\n" + textwrap.dedent(case.scenario)
    registry = Registry()
    scenario = parse_scenario(text, str(tmp_path / "scenario.yaml"), registry)
    options = RunOptions(report_dir=tmp_path / "report", node_command=node_command,
                         toxiproxy="embedded")
    return run_scenario(scenario, options, registry)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.node for c in CASES])
def test_checker_catches_the_broken_node(case: Case, tmp_path: Path, no_leaks: None) -> None:
    result = run(case, tmp_path, (sys.executable, str(BROKEN / f"{case.node}.py")))
    verdict = result.check(case.check)
    assert not verdict.passed, f"{case.check} missed {case.node}: {verdict.detail}"
    assert case.expected in verdict.detail
    assert result.check("node_contract").passed, "the broken node must only break one thing"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.node for c in CASES])
def test_reference_node_passes_the_same_scenario(case: Case, tmp_path: Path,
                                                 no_leaks: None) -> None:
    result = run(case, tmp_path, None)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
