"""Maelstrom's workloads under the Gossip Glomers challenges' conditions, side by side.

Runs the shipped ``scenarios/maelstrom/`` scenarios of each workload on the local backend
with the reference nodes (or ``--node-command``: a Maelstrom solution of that workload),
and prints from each run's own result the operations per second the clients got, messages
per operation (node to node and to services, as Maelstrom counts "servers"), latency and
the verdict, next to the rate the challenge asks and its published targets. 3d and 3e (25
nodes) are ``bench_gossip.py``'s.

    python benchmarks/bench_maelstrom.py [--seed N] [--only echo-1,g-counter-4]
        [--node-command "python3 my_counter.py"]
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_dchaos.record.history import OK
from pytest_dchaos.run.runner import RunOptions, run_path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "maelstrom"


@dataclass(frozen=True)
class Workload:
    scenario: str
    #: What the challenge publishes beyond passing its checker.
    target: str


WORKLOADS = (
    Workload("echo-1", "every echo answered as sent"),
    Workload("unique-ids-2", "1,000 ops/s, total availability under partitions"),
    Workload("broadcast-3b", "every value on every node"),
    Workload("broadcast-3c", "the same, under partitions"),
    Workload("g-counter-4", "100 ops/s; acknowledged sum after the heal"),
    Workload("pn-counter", "as g-counter-4, deltas of either sign"),
    Workload("txn-rw-register-6a", "1,000 txns/s, total availability, read uncommitted"),
    Workload("txn-rw-register-6b", "the same on two nodes under partitions"),
    Workload("txn-rw-register-6c", "the same at read committed"),
    Workload("lin-kv", "100 ops/s under partitions; linearizable"),
)


def run(workload: Workload, seed: int | None, report: Path,
        node_command: tuple[str, ...] | None) -> dict[str, object]:
    result = run_path(SCENARIOS / f"{workload.scenario}.yaml",
                      RunOptions(seed=seed, report_dir=report, toxiproxy="embedded",
                                 node_command=node_command))
    stats = result.stats
    record = result.record
    assert record is not None, "run_path keeps the run's record"
    duration = stats["phases_s"]["workload_end"]
    # The workload's own operations: the final phase's reads come after it ended.
    ok = sum(1 for op in record.history.ops if op.type == OK and op.time <= duration)
    return {
        "scenario": workload.scenario,
        "target": workload.target,
        "asked": record.scenario.workload.rate,
        "ops_per_s": ok / duration,
        "msgs_per_op": stats["msgs_per_op"]["servers"],
        "p50": stats["latency_ms"]["p50"],
        "p99": stats["latency_ms"]["p99"],
        "verdict": "PASS" if result.passed else
        f"FAIL ({', '.join(v.name for v in result.failed_checks())})",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="override the scenarios' seeds")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--node-command", default=None,
                        help="run this node instead of the reference (use with --only)")
    args = parser.parse_args()
    chosen = [w for w in WORKLOADS if not args.only or w.scenario in args.only.split(",")]
    command = tuple(shlex.split(args.node_command)) if args.node_command else None
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(w, args.seed, Path(tmp) / w.scenario, command) for w in chosen]
    print(f"{'scenario':<13} {'asked/s':>8} {'ok ops/s':>9} {'msgs/op':>8} {'p50':>8} "
          f"{'p99':>8}  {'verdict':<8} published target")
    for row in rows:
        asked = f"{row['asked']:.0f}" if row["asked"] else "—"
        print(f"{row['scenario']:<13} {asked:>8} {row['ops_per_s']:>9.1f} "
              f"{row['msgs_per_op']:>8.2f} {row['p50']:>5.1f} ms {row['p99']:>5.1f} ms  "
              f"{row['verdict']:<8} {row['target']}")


if __name__ == "__main__":
    main()
