"""``dchaos explore`` finds bugs that only a fault no shipped scenario has can show (issue
14's goal, for gossip and vector clocks).

* tests/broken_nodes/gossip_heard_is_reachable.py excuses an unanswered probe when the
  target merely spoke to it: it never marks dead a member cut off one way (its messages
  arrive, ours do not). Every shipped gossip scenario cuts links both ways or crashes the
  node, so it passes them all.
* tests/broken_nodes/vc_forgets_on_stop.py removes its event log on a graceful shutdown
  (SIGTERM), so after ``stop`` with a restart it comes back with no memory. Every shipped
  vector-clock scenario takes nodes down with SIGKILL, so it passes them all.

The fast tests check that claim from the scenario files, by loading them; the slow ones
explore each family's healthy scenario with a seed whose first schedule holds the fault,
and check what comes back: the right check failed, a minimal scenario of at most two
faults that still holds the fault, and the reference node passing that same scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.scenario.loader import load_scenario
from pytest_dchaos.scenario.model import FaultSpec
from tests.builders import registry, scenario

ROOT = Path(__file__).parent.parent.parent
DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]


def one_way_cut(kind: str, options: Any) -> bool:
    """Messages lost one way and not the other: a ``partition: {from, to}``, or a message
    rule that drops everything on a set of links without their reverses."""
    if kind == "partition":
        return options.one_way is not None
    if kind == "message" and options.drop >= 1.0 and not options.types:
        return any((b, a) not in options.links for a, b in options.links)
    return False


def graceful_stop(kind: str, options: Any) -> bool:
    """A node stopped with SIGTERM (``stop``), as opposed to crashed (``kill``)."""
    return kind == "stop"


@dataclass(frozen=True)
class Unshipped:
    """A broken node, the fault kind it needs, and how exploring finds it."""

    family: str
    node: str
    needs: Callable[[str, Any], bool]
    #: A fault entry of that kind, to show ``needs`` recognises it.
    example: str
    #: The check its bug fails.
    check: str
    #: An exploration seed whose first schedule holds the fault (found by listing the
    #: schedules ``dchaos explore`` draws for the family's healthy scenario).
    seed: str

    @property
    def healthy(self) -> Path:
        return ROOT / "scenarios" / self.family / "healthy.yaml"

    @property
    def broken(self) -> Path:
        return ROOT / "tests" / "broken_nodes" / self.node


GOSSIP = Unshipped("gossip", "gossip_heard_is_reachable.py", one_way_cut,
                   "{at: 1s, partition: {from: [n1], to: [n2, n3]}, duration: 4s}",
                   "failure_detection", seed="37")
VECTOR_CLOCK = Unshipped("vector_clock", "vc_forgets_on_stop.py", graceful_stop,
                         "{at: 1s, stop: n2, duration: 2s}", "delivered_everywhere",
                         seed="101")
CASES = [pytest.param(GOSSIP, id="gossip"), pytest.param(VECTOR_CLOCK, id="vector_clock")]


def firings(fault: FaultSpec) -> list[tuple[str, Any]]:
    """Every fault an entry may fire: itself, or each alternative of a ``one_of``."""
    return list(fault.choices) or [(fault.kind, fault.options)]


@pytest.mark.parametrize("case", CASES)
def test_no_shipped_scenario_of_the_family_has_the_fault_the_node_needs(
        case: Unshipped) -> None:
    shipped = sorted((ROOT / "scenarios" / case.family).glob("*.yaml"))
    assert len(shipped) >= 5
    for path in shipped:
        loaded = load_scenario(path, registry())
        assert loaded.protocol == case.family
        having = [f.line for f in loaded.faults
                  if any(case.needs(kind, options) for kind, options in firings(f))]
        assert not having, f"{path.name}:{having[0]} has the fault {case.node} needs"
    # ... and the test would see one if it were there.
    written = scenario(f"name: x\nprotocol: {case.family}\ncluster: {{nodes: 3}}\n"
                       f"workload: {{duration: 6s}}\nfaults:\n  - {case.example}\n"
                       f"checks: [{case.check}]\n")
    assert any(case.needs(kind, options) for kind, options in firings(written.faults[0]))


def test_a_cut_made_of_message_rules_counts_when_it_is_one_way() -> None:
    def rules(links: str, drop: float = 1.0) -> FaultSpec:
        return scenario("name: x\nprotocol: gossip\ncluster: {nodes: 3}\n"
                        "workload: {duration: 6s}\nfaults:\n"
                        f"  - {{at: 1s, message: {{drop: {drop}, links: {links}}}, "
                        "duration: 2s}\nchecks: [convergence]\n").faults[0]

    assert one_way_cut("message", rules("[n1->n2]").options)
    assert not one_way_cut("message", rules("[n1->n2, n2->n1]").options)
    assert not one_way_cut("message", rules("[n1->n2]", drop=0.5).options)


def explore(case: Unshipped, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DCHAOS, "explore", str(case.healthy), "--budget", "2m", "--runs", "1",
         "--seed", case.seed, "--confirm", "1", "--shrink-budget", "10s",
         "--report", str(out), "--node-command", f"{sys.executable} {case.broken}",
         "--toxiproxy", "embedded"],
        capture_output=True, text=True, timeout=240)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_explore_finds_it_and_the_reference_node_passes_the_minimal_scenario(
        case: Unshipped, tmp_path: Path, no_leaks: None) -> None:
    out = tmp_path / "out"
    done = explore(case, out)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((out / "explore.json").read_text())
    found = report["found"]
    assert case.check in found["failed_checks"], found
    assert found["run"] == 1  # the seed was chosen for its first schedule

    minimal = load_scenario(out / "minimal.yaml", registry())
    assert 1 <= len(minimal.faults) <= 2, report["shrink"]
    assert any(case.needs(kind, options)
               for fault in minimal.faults for kind, options in firings(fault))
    assert report["minimal"]["rerun"]["verdict"] == "fail"

    # The reference node passes the very scenario the broken one fails.
    reference = subprocess.run(
        [*DCHAOS, "run", str(out / "minimal.yaml"), "--report", str(tmp_path / "reference"),
         "-q", "--toxiproxy", "embedded", "--node-command",
         f"{sys.executable} -m reference_nodes.{case.family}"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert reference.returncode == 0, reference.stdout + reference.stderr
