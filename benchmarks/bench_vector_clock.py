"""The vector-clock family: ten nodes under load, and what hold-back costs on a slow link.

1. Ten nodes, about 100 broadcasts a second for 30 s (plus transfers and snapshots), local
   backend, no faults. Prints the causal violations (goal: zero), how many pairs of events
   the checker classified and how many it got wrong against the harness's own
   happens-before (goal: none), and the checks' own run time over the whole history (goal:
   under 5 s for 100,000 events) — with its events-per-second rate, so the figure scales.
2. Five nodes with n1's links to n3 and n4 slowed to each of 50 ms and 200 ms (the rest at
   2 ms): the hold-back delay, median and p99 over the deliveries that had to wait, next to
   the per-link latency that caused it.

    python benchmarks/bench_vector_clock.py [--seed N] [--duration S]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.checks.causal_delivery import CausalDelivery
from pytest_dchaos.families.vector_clock.checks.common import CausalCheck, analysis
from pytest_dchaos.families.vector_clock.checks.fifo_channels import FifoChannels
from pytest_dchaos.families.vector_clock.checks.snapshots import Snapshots, SnapshotsOptions
from pytest_dchaos.families.vector_clock.checks.vector_clocks import VectorClocks
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

LOAD = """\
name: vector-clock-10-nodes
protocol: vector_clock
cluster: {{nodes: 10}}
network: {{latency: 2ms}}
workload: {{clients: 8, rate: 125/s, duration: {duration}s, recovery: 10s, read_ratio: 0.02,
           transfer_ratio: 0.15, snapshot_ratio: 0.01}}
checks: [causal_delivery, delivered_everywhere, vector_clocks, snapshots, fifo_channels]
seed: {seed}
"""

SKEWED = """\
name: vector-clock-hold-back-{latency}ms
protocol: vector_clock
cluster: {{nodes: 5}}
network:
  latency: 2ms
  links: [{{links: [n1->n3, n1->n4], latency: {latency}ms}}]
workload: {{clients: 3, rate: 80/s, duration: 10s, recovery: 5s, read_ratio: 0.02,
           transfer_ratio: 0.1, snapshot_ratio: 0.0}}
checks: [causal_delivery, delivered_everywhere, vector_clocks]
seed: {seed}
"""


def run(text: str, report: Path) -> Any:
    registry = Registry()
    scenario = parse_scenario(text, str(report / "scenario.yaml"), registry)
    return run_scenario(scenario, RunOptions(report_dir=report, toxiproxy="embedded"),
                        registry)


def time_checks(result: Any) -> tuple[float, dict[str, float]]:
    """Judge the run again from its record, timing the analysis and each check."""
    record = result.record
    record.derived.clear()
    started = time.perf_counter()
    analysis(record)
    shared = time.perf_counter() - started
    each = {}
    checks: tuple[tuple[CausalCheck[Any], object], ...] = (
        (CausalDelivery(), NoOptions()), (VectorClocks(), NoOptions()),
        (Snapshots(), SnapshotsOptions(complete=True)), (FifoChannels(), NoOptions()))
    for checker, options in checks:
        started = time.perf_counter()
        checker.check(options, record)
        each[checker.name] = time.perf_counter() - started
    return shared, each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        load = run(LOAD.format(duration=args.duration, seed=args.seed), Path(tmp) / "load")
        shared, each = time_checks(load)
        skewed = {ms: run(SKEWED.format(latency=ms, seed=args.seed), Path(tmp) / f"s{ms}")
                  for ms in (50, 200)}

    ops = load.record.history.ops
    broadcasts = sum(1 for op in ops if op.f == "cbcast" and op.type == "ok")
    causal = load.check("causal_delivery").figures
    clocks = load.check("vector_clocks").figures
    events = clocks.get("events", 0)
    total = shared + sum(each.values())
    print(f"1. ten nodes, {args.duration:g} s: {broadcasts} broadcasts acknowledged "
          f"({broadcasts / args.duration:.0f}/s), {causal.get('deliveries')} deliveries, "
          f"{events} events")
    print(f"   causal violations: {causal.get('violations')}  "
          f"(verdict {'PASS' if load.check('causal_delivery').passed else 'FAIL'})")
    print(f"   pairs of events classified: {clocks.get('pairs'):,} "
          f"({clocks.get('ordered_pairs'):,} ordered, {clocks.get('concurrent_pairs'):,} "
          f"concurrent); wrongly ordered {clocks.get('false_order')}, missed "
          f"{clocks.get('missed_order')}")
    print(f"   checker run time: {total:.2f} s for {events} events "
          f"({events / total:,.0f} events/s; 100,000 events ≈ {100_000 / (events / total):.1f} s)"
          f" — happens-before {shared:.2f} s, "
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in each.items()))
    print(f"   every check: {'PASS' if load.passed else 'FAIL ' + str(load.failed_checks())}")
    print("2. hold-back behind a slow link (n1->n3, n1->n4; others 2 ms)")
    print(f"   {'slow link':>9} {'held back':>10} {'p50':>8} {'p99':>8}  verdict")
    for ms, result in skewed.items():
        delays = analysis(result.record).hold_back
        waited = [d for d in delays if d > 0.001]
        q = quantiles_ms(waited)
        share = len(waited) / len(delays) if delays else 0.0
        print(f"   {ms:>6} ms {share:>9.0%} {q.get('p50', 0):>5.0f} ms {q.get('p99', 0):>5.0f} ms"
              f"  {'PASS' if result.passed else 'FAIL'}")


if __name__ == "__main__":
    main()
