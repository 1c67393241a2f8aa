"""Distributed transactions: throughput with the log forced to disk, 2PC against 3PC, and
how fast in-doubt transactions and deadlocks are resolved.

1. Three shards, local backend, no faults, low contention, every commit record forced to
   disk (group commit): committed transactions per second, messages per transaction and
   commit latency (median, p99), for 2PC and 3PC in one run each, side by side, with the
   number of transactions per fsync. Goal: at least 500 committed/s.
2. From the shipped scenarios: 3PC decides every in-doubt transaction without its crashed
   coordinator (goal: within 2 s of the crash); 2PC resolves every blocked transaction
   after its coordinator's restart (goal: within 1 s); every deadlock is broken (goal:
   within 1 s of forming).

    python benchmarks/bench_txn.py [--seed N] [--duration S] [--clients K]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_path, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "txn"

LOAD = """\
name: txn-throughput-{protocol}
protocol: txn
cluster: {{nodes: 3, params: {{commit_protocol: {protocol}}}}}
workload: {{clients: {clients}, rate: {rate}/s, duration: {duration}s, recovery: 5s,
           keys: 10000, min_ops: 1, max_ops: 4, read_ratio: 0.5, timeout: 10s}}
checks: [atomicity, txn_outcomes, isolation]
seed: {seed}
"""


def load(protocol: str, args: argparse.Namespace, report: Path) -> Any:
    registry = Registry()
    text = LOAD.format(protocol=protocol, clients=args.clients, rate=args.rate,
                       duration=args.duration, seed=args.seed)
    scenario = parse_scenario(text, str(report / "scenario.yaml"), registry)
    return run_scenario(scenario, RunOptions(report_dir=report, toxiproxy="embedded"),
                        registry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--rate", type=int, default=2000,
                        help="offered operations per second (the clients cap it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {p: load(p, args, Path(tmp) / p) for p in ("2pc", "3pc")}
        options = RunOptions(report_dir=Path(tmp) / "x", toxiproxy="embedded")
        crash3 = run_path(SCENARIOS / "3pc-crash-before-decision.yaml", options)
        crash2 = run_path(SCENARIOS / "2pc-crash-before-decision.yaml",
                          RunOptions(report_dir=Path(tmp) / "y", toxiproxy="embedded"))
        deadlocks = run_path(SCENARIOS / "deadlocks.yaml",
                             RunOptions(report_dir=Path(tmp) / "z", toxiproxy="embedded"))

    print(f"1. three shards, no faults, log forced to disk, {args.clients} clients, "
          f"{args.duration:g} s")
    print(f"   {'':>4} {'committed/s':>12} {'msgs/txn':>9} {'p50':>8} {'p99':>8} "
          f"{'txns/fsync':>11}  verdict")
    for protocol, result in runs.items():
        stats = result.stats
        lat = stats.get("commit_latency_ms", {})
        per_flush = stats["committed"] / max(1, stats.get("wal_flushes", 0))
        verdict = "PASS" if result.passed else f"FAIL {[v.name for v in result.failed_checks()]}"
        per_txn = stats["msgs_per_op"]["servers"]
        print(f"   {protocol:>4} {stats['committed_per_s']:>12.0f} {per_txn:>9.2f} "
              f"{lat.get('p50', 0):>5.1f} ms {lat.get('p99', 0):>5.1f} ms {per_flush:>11.2f}  "
              f"{verdict}")
    term = crash3.check("termination").figures
    block = crash2.check("blocking").figures
    dead = deadlocks.check("deadlock_handling").figures
    print("2. resolution")
    print(f"   3PC, coordinator crashed: {term.get('in_doubt')} in-doubt decision(s), the "
          f"slowest {term.get('max_s')} s after the crash (goal < 2 s) — "
          f"{'PASS' if crash3.passed else 'FAIL'}")
    print(f"   2PC, coordinator crashed: {block.get('in_doubt')} blocked participant(s), the "
          f"slowest decided {block.get('max_s')} s after the restart (goal < 1 s) — "
          f"{'PASS' if crash2.passed else 'FAIL'}")
    print(f"   deadlocks: {dead.get('deadlocks')} broken, the slowest "
          f"{dead.get('max_break_s')} s after forming (goal < 1 s) — "
          f"{'PASS' if deadlocks.passed else 'FAIL'}")


if __name__ == "__main__":
    main()
